// inbound.test.ts again, every dialer on the mux carrier (tunnel protocol 2) instead of HTTP/2.
process.env.KVPN_TEST_CARRIER = 'mux';
await import('./inbound.test.js');
