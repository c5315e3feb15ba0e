/**
 * A minimal OTLP/HTTP trace receiver on 127.0.0.1 and a random port, for checking that spans really leave the
 * process: it accepts `POST /v1/traces` (any path is recorded), decodes `application/json` and
 * `application/x-protobuf` bodies (gzip too) into one normalized shape, and answers 200 with an empty
 * ExportTraceServiceResponse. It allows any origin (CORS, preflight included), so a page in a browser can export to it
 * as to a collector with `cors.allowed_origins: ['*']`. The protobuf side is a small wire-format walker over the few fields we read
 * (ExportTraceServiceRequest → ResourceSpans → ScopeSpans → Span), not a general decoder.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { waitFor } from './wait.js';

export type AttributeValue = string | number | boolean | bigint | AttributeValue[] | { [key: string]: AttributeValue } | null;

export interface ReceivedSpan {
  /** 32 lowercase hex digits. */
  traceId: string;
  /** 16 lowercase hex digits. */
  spanId: string;
  /** 16 hex digits, or '' for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer (0 unspecified). */
  kind: number;
  attributes: Record<string, AttributeValue>;
  /** Status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  resource: Record<string, AttributeValue>;
  scope: { name: string; version: string };
}

export interface ReceivedRequest {
  method: string;
  path: string;
  contentType: string;
  headers: IncomingHttpHeaders;
  /** Spans decoded from the body (empty if it could not be decoded; see `error`). */
  spans: ReceivedSpan[];
  error?: string;
}

export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>` — use as OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Every span received so far, over all requests. */
  spans(): ReceivedSpan[];
  /** Resolves once spans with all these names have arrived (default timeout 5 s). */
  waitForSpanNames(names: string[], timeoutMs?: number): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

/** `port`: default 0 (a free one); docs/operations.md runs it on 4318 as a stand-in collector. */
export async function startOtlpReceiver(opts: { port?: number } = {}): Promise<OtlpReceiver> {
  const requests: ReceivedRequest[] = [];
  const server: Server = createServer((req, res) => {
    res.setHeader('access-control-allow-origin', '*');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers': String(req.headers['access-control-request-headers'] ?? 'content-type'),
        'access-control-max-age': '600',
      }).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const contentType = String(req.headers['content-type'] ?? '');
      const r: ReceivedRequest = { method: req.method ?? '', path: (req.url ?? '').split('?')[0]!, contentType, headers: req.headers, spans: [] };
      try {
        let body = Buffer.concat(chunks);
        if (String(req.headers['content-encoding'] ?? '').toLowerCase() === 'gzip') body = gunzipSync(body);
        if (contentType.includes('json')) r.spans = decodeJsonRequest(JSON.parse(body.toString('utf8')));
        else if (contentType.includes('protobuf')) r.spans = decodeProtobufRequest(body);
        else r.error = `unexpected content-type ${contentType}`;
      } catch (err) {
        r.error = String(err);
      }
      requests.push(r);
      if (contentType.includes('json')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else {
        // An empty ExportTraceServiceResponse encodes to zero bytes.
        res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': '0' }).end();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const spans = () => requests.flatMap((r) => r.spans);
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    spans,
    waitForSpanNames(names, timeoutMs = 5000) {
      return waitFor(() => (names.every((n) => spans().some((s) => s.name === n)) ? spans() : undefined), {
        timeout: timeoutMs,
        label: `OTLP spans ${names.join(', ')}`,
        describe: () => `requests ${requests.length} (${requests.map((r) => `${r.path} ${r.contentType}${r.error ? ` error ${r.error}` : ''}`).join('; ')}), spans [${spans().map((s) => s.name).join(', ')}]`,
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// --- JSON (OTLP/HTTP JSON encoding: hex ids, camelCase fields, int64 as strings) ----------------------------------

function decodeJsonRequest(body: any): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of body.resourceSpans ?? []) {
    const resource = jsonAttributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      const scope = { name: String(ss.scope?.name ?? ''), version: String(ss.scope?.version ?? '') };
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: String(s.traceId ?? '').toLowerCase(),
          spanId: String(s.spanId ?? '').toLowerCase(),
          parentSpanId: String(s.parentSpanId ?? '').toLowerCase(),
          name: String(s.name ?? ''),
          kind: Number(s.kind ?? 0),
          attributes: jsonAttributes(s.attributes),
          statusCode: Number(s.status?.code ?? 0),
          resource,
          scope,
        });
      }
    }
  }
  return out;
}

function jsonAttributes(list: any[] | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kv of list ?? []) out[kv.key] = jsonValue(kv.value);
  return out;
}

function jsonValue(v: any): AttributeValue {
  if (v === undefined || v === null) return null;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('arrayValue' in v) return (v.arrayValue.values ?? []).map(jsonValue);
  if ('kvlistValue' in v) return jsonAttributes(v.kvlistValue.values);
  if ('bytesValue' in v) return String(v.bytesValue);
  return null;
}

// --- protobuf wire format ------------------------------------------------------------------------------------------

interface Field {
  no: number;
  wire: number;
  /** varint value (wire 0), or fixed64/fixed32 bits (wire 1/5). */
  int?: bigint;
  /** length-delimited bytes (wire 2). */
  bytes?: Buffer;
}

/** Splits one message into its fields (in order; repeated fields appear several times). */
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated varint');
      const b = buf[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 70n) throw new Error('varint too long');
    }
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const no = key >>> 3;
    const wire = key & 7;
    if (wire === 0) {
      out.push({ no, wire, int: varint() });
    } else if (wire === 1) {
      if (pos + 8 > buf.length) throw new Error('truncated fixed64');
      out.push({ no, wire, int: buf.readBigUInt64LE(pos) });
      pos += 8;
    } else if (wire === 2) {
      const len = Number(varint());
      if (pos + len > buf.length) throw new Error(`truncated field ${no}`);
      out.push({ no, wire, bytes: buf.subarray(pos, pos + len) });
      pos += len;
    } else if (wire === 5) {
      if (pos + 4 > buf.length) throw new Error('truncated fixed32');
      out.push({ no, wire, int: BigInt(buf.readUInt32LE(pos)) });
      pos += 4;
    } else {
      throw new Error(`unsupported wire type ${wire} (field ${no})`);
    }
  }
  return out;
}

const sub = (fs: Field[], no: number): Buffer[] => fs.filter((f) => f.no === no && f.bytes !== undefined).map((f) => f.bytes!);
const str = (fs: Field[], no: number): string => sub(fs, no)[0]?.toString('utf8') ?? '';
const hex = (fs: Field[], no: number): string => sub(fs, no)[0]?.toString('hex') ?? '';
const int = (fs: Field[], no: number): bigint => fs.find((f) => f.no === no && f.int !== undefined)?.int ?? 0n;

function decodeProtobufRequest(body: Buffer): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  // ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1 }
  for (const rsBuf of sub(fields(body), 1)) {
    const rs = fields(rsBuf);
    // ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2 }; Resource { repeated KeyValue attributes = 1 }
    const resourceBuf = sub(rs, 1)[0];
    const resource = resourceBuf ? pbAttributes(sub(fields(resourceBuf), 1)) : {};
    for (const ssBuf of sub(rs, 2)) {
      const ss = fields(ssBuf);
      // ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2 }; InstrumentationScope { name = 1; version = 2 }
      const scopeBuf = sub(ss, 1)[0];
      const scopeFields = scopeBuf ? fields(scopeBuf) : [];
      const scope = { name: str(scopeFields, 1), version: str(scopeFields, 2) };
      for (const spanBuf of sub(ss, 2)) {
        // Span { trace_id = 1; span_id = 2; trace_state = 3; parent_span_id = 4; name = 5; kind = 6; attributes = 9; status = 15 }
        const s = fields(spanBuf);
        const statusBuf = sub(s, 15)[0];
        out.push({
          traceId: hex(s, 1),
          spanId: hex(s, 2),
          parentSpanId: hex(s, 4),
          name: str(s, 5),
          kind: Number(int(s, 6)),
          attributes: pbAttributes(sub(s, 9)),
          // Status { string message = 2; StatusCode code = 3 }
          statusCode: statusBuf ? Number(int(fields(statusBuf), 3)) : 0,
          resource,
          scope,
        });
      }
    }
  }
  return out;
}

/** KeyValue { string key = 1; AnyValue value = 2 } */
function pbAttributes(kvs: Buffer[]): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const kvBuf of kvs) {
    const kv = fields(kvBuf);
    const valueBuf = sub(kv, 2)[0];
    out[str(kv, 1)] = valueBuf ? pbValue(valueBuf) : null;
  }
  return out;
}

/** AnyValue { oneof: string 1, bool 2, int64 3, double 4, ArrayValue 5, KeyValueList 6, bytes 7 } */
function pbValue(buf: Buffer): AttributeValue {
  const f = fields(buf)[0];
  if (f === undefined) return null;
  switch (f.no) {
    case 1:
      return f.bytes!.toString('utf8');
    case 2:
      return f.int !== 0n;
    case 3: {
      const v = BigInt.asIntN(64, f.int!);
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    case 4: {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(f.int!);
      return b.readDoubleLE(0);
    }
    case 5: // ArrayValue { repeated AnyValue values = 1 }
      return sub(fields(f.bytes!), 1).map(pbValue);
    case 6: // KeyValueList { repeated KeyValue values = 1 }
      return pbAttributes(sub(fields(f.bytes!), 1));
    case 7:
      return f.bytes!.toString('hex');
    default:
      return null;
  }
}
