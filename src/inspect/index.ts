// The inspection page (http://127.0.0.1:4040): what the tunnel is doing, live.
//
//   stack ─► RecordingDialer ─► tunnel            flows: FlowLog (open map + ring)
//   DNS server ─observer─► DnsLog ─► NameBook     queries; addresses teach names to flows
//   intercepts ─router's records─► RequestLog     requests; replay.ts sends one again
//   InspectServer: guard.ts (Host, secret cookie, Origin) ─► assets/ + JSON + SSE
//
// Nothing here is on the data path per byte: flows are touched when they
// start and end, and bytes are read from the connection when the page asks.
export { type DnsEntry, DnsLog } from './dns-log.js';
export { FLOW_LOG_CAPACITY, FlowLog, type FlowPage, type FlowView } from './flow-log.js';
export { Guard } from './guard.js';
export { Inspection, type InspectionOptions } from './inspection.js';
export { NameBook } from './name-book.js';
export { RecordingDialer } from './recording-dialer.js';
export { ReplayError } from './replay.js';
export { type InterceptRef, RequestLog, type RoutedRequest } from './request-log.js';
export { DEFAULT_UI_PORT, InspectPortError, InspectServer } from './server.js';
