// cluster.test.ts again (the test world's faults: relay pod deleted mid-transfer, port-forwards
// cut, API server restart, a slow reader), every dialer on the mux carrier instead of HTTP/2.
process.env.KVPN_TEST_CARRIER = 'mux';
await import('./cluster.test.js');
