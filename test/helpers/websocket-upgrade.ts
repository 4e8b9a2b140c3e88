// The headers of a port-forward WebSocket upgrade as kvpn sends it, for tests
// that make the request by hand to see how the API server answers it.
export const PORT_FORWARD_UPGRADE_HEADERS: Readonly<Record<string, string>> = {
  Connection: 'Upgrade',
  Upgrade: 'websocket',
  'Sec-WebSocket-Version': '13',
  'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'Sec-WebSocket-Protocol': 'v4.channel.k8s.io',
};
