// The HTTPS front of the stand-in: authenticates, authorizes, routes to
// discovery, CRUD, reviews, pod logs and port-forward. It can be stopped and
// started again on the same port (the "restart the API server" fault); the
// objects live in the Store, which outlives it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Authenticator, Identity } from './auth.js';
import {
  coreVersions,
  group,
  groupList,
  openapiV3GroupVersion,
  openapiV3Root,
  resourceList,
  versionInfo,
} from './discovery.js';
import { readBody, writeError, writeJson } from './http-io.js';
import type { KObject } from './objects.js';
import { type PodDialer, PortForwardServer } from './portforward.js';
import { decodeReview, isProtobuf } from './protobuf.js';
import { parseRequest, type RequestInfo, type ResourceRequest } from './request-info.js';
import { isVirtual, type ResourceTable, resourceKey } from './resources.js';
import type { Rest } from './rest.js';
import { review } from './reviews.js';
import { ApiError, badRequest, forbidden, forbiddenPath, notFound, pathNotFound } from './status.js';

export interface KubeletAccess {
  /** Streams a container's log (GET pods/NAME/log). */
  logs(pod: KObject, query: URLSearchParams, res: ServerResponse): Promise<void>;
  /** Connects to 127.0.0.1:port inside the pod's network namespace. */
  dial(pod: KObject, port: number): Promise<Socket>;
}

export interface ApiServerOptions {
  host: string;
  port: number;
  key: string;
  cert: string;
  ca: string;
  rest: Rest;
  table: ResourceTable;
  auth: Authenticator;
  kubelet: KubeletAccess;
  log?: (line: string) => void;
}

export class ApiServer {
  readonly portForwards = new PortForwardServer();
  #opts: ApiServerOptions;
  #server: Server | undefined;
  #sockets = new Set<Socket>();
  #port: number;
  /** Requests served, by verb and resource (tests read it to see what clients did). */
  readonly requests: string[] = [];

  constructor(opts: ApiServerOptions) {
    this.#opts = opts;
    this.#port = opts.port;
  }

  get port(): number {
    return this.#port;
  }
  get listening(): boolean {
    return this.#server !== undefined;
  }

  async start(): Promise<number> {
    if (this.#server) return this.#port;
    const server = createServer({
      key: this.#opts.key,
      cert: this.#opts.cert,
      ca: this.#opts.ca,
      requestCert: true,
      rejectUnauthorized: false,
    });
    server.on('request', (req, res) => {
      this.#onRequest(req, res).catch((err) => writeError(res, err));
    });
    server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket, head));
    server.on('secureConnection', (s: TLSSocket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    server.on('tlsClientError', () => {});
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, this.#opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#port = (server.address() as { port: number }).port;
    this.#server = server;
    return this.#port;
  }

  /** Closes the listener and every connection (watches, port-forwards) abruptly. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    this.portForwards.cutAll();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    await closed;
  }

  #identify(req: IncomingMessage): Identity {
    return this.#opts.auth.authenticate(req.headers.authorization, req.socket as TLSSocket);
  }

  #authorize(id: Identity, ri: RequestInfo): void {
    if (ri.kind === 'nonResource') {
      if (!this.#opts.auth.authorize(id, { verb: ri.verb, group: '', resource: '', path: ri.path })) {
        throw forbiddenPath(id.user, ri.verb, ri.path);
      }
      return;
    }
    // As Kubernetes 1.34 does: the HTTP method decides, so a WebSocket
    // port-forward or exec (GET) is authorized as "get", SPDY's POST as "create".
    const attrs = {
      verb: ri.verb,
      group: ri.def.group,
      resource: ri.def.resource,
      subresource: ri.subresource,
      namespace: ri.namespace,
      name: ri.name,
    };
    if (!this.#opts.auth.authorize(id, attrs)) {
      throw forbidden(
        id.user,
        ri.verb,
        ri.def,
        ri.subresource,
        ri.def.namespaced || ri.def.resource === 'namespaces' ? ri.namespace : undefined,
        ri.name,
      );
    }
  }

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const id = this.#identify(req);
    const ri = parseRequest(req.method ?? 'GET', req.url ?? '/', this.#opts.table);
    this.requests.push(`${req.method} ${req.url}`);
    if (this.requests.length > 5000) this.requests.splice(0, 1000);
    this.#authorize(id, ri);
    if (ri.kind === 'nonResource') return this.#nonResource(req, res, ri.path);
    if (isVirtual(ri.def)) {
      if (ri.verb !== 'create')
        throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
      const raw = await readBody(req);
      let body: KObject | undefined;
      try {
        body =
          raw.length === 0
            ? undefined
            : isProtobuf(raw)
              ? decodeReview(raw)
              : (JSON.parse(raw.toString('utf8')) as KObject);
      } catch (err) {
        throw badRequest(`the object provided is unrecognized: ${(err as Error).message}`);
      }
      writeJson(res, 201, review(ri, body, id, this.#opts.auth));
      return;
    }
    if (ri.subresource === 'log') return this.#logs(res, ri);
    if (ri.subresource === 'portforward' || ri.subresource === 'exec' || ri.subresource === 'attach') {
      throw badRequest('Upgrade request required');
    }
    if (ri.subresource !== undefined && ri.subresource !== 'status') throw pathNotFound();
    return this.#opts.rest.handle(req, res, ri);
  }

  #nonResource(req: IncomingMessage, res: ServerResponse, path: string): void {
    const t = this.#opts.table;
    const host = req.headers.host ?? `${this.#opts.host}:${this.#port}`;
    const segs = path.split('/').filter(Boolean);
    let body: unknown;
    if (path === '/version') body = versionInfo();
    else if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('ok');
      return;
    } else if (path === '/api') body = coreVersions(host);
    else if (path === '/apis') body = groupList(t);
    else if (segs[0] === 'api' && segs.length === 2) body = resourceList(t, '', segs[1] ?? '');
    else if (segs[0] === 'apis' && segs.length === 2) body = group(t, segs[1] ?? '');
    else if (segs[0] === 'apis' && segs.length === 3) body = resourceList(t, segs[1] ?? '', segs[2] ?? '');
    else if (path === '/openapi/v3') body = openapiV3Root(t);
    else if (segs[0] === 'openapi' && segs[1] === 'v3') body = openapiV3GroupVersion(t, segs.slice(2).join('/'));
    if (body === undefined) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('404 page not found\n');
      return;
    }
    writeJson(res, 200, body);
  }

  #pod(ri: ResourceRequest): KObject {
    const pod = this.#opts.rest.store.get(resourceKey(ri.def), ri.namespace, ri.name ?? '');
    if (!pod) throw notFound(ri.def, ri.name ?? '');
    return pod;
  }

  async #logs(res: ServerResponse, ri: ResourceRequest): Promise<void> {
    await this.#opts.kubelet.logs(this.#pod(ri), ri.query, res);
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const fail = (err: unknown): void => {
      const e = err instanceof ApiError ? err : new ApiError(500, 'InternalError', String(err));
      const body = JSON.stringify(e.toStatus());
      socket.end(
        `HTTP/1.1 ${e.code} ${e.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    try {
      const id = this.#identify(req);
      const ri = parseRequest(req.method ?? 'GET', req.url ?? '/', this.#opts.table);
      this.requests.push(`UPGRADE ${req.url}`);
      this.#authorize(id, ri);
      if (ri.kind !== 'resource' || ri.def.resource !== 'pods' || ri.subresource !== 'portforward')
        throw badRequest('upgrade is only served for pods/portforward');
      const pod = this.#pod(ri);
      if (pod.status?.phase !== 'Running') {
        throw badRequest(`pod ${ri.name} is not running. Current status=${pod.status?.phase ?? 'Unknown'}`);
      }
      const ports = ri.query
        .getAll('ports')
        .flatMap((p) => p.split(','))
        .map(Number);
      if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
        throw badRequest('query parameter "ports" is required and must name valid ports');
      }
      const dial: PodDialer = (port) => this.#opts.kubelet.dial(pod, port);
      this.portForwards.upgrade(req, socket, head, ports, `${pod.metadata.name}_${pod.metadata.namespace}`, dial);
    } catch (err) {
      fail(err);
    }
  }
}
