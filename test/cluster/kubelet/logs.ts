// Container logs in the CRI file format ("<RFC3339Nano> stdout F <line>"),
// one file per container instance, and the reader behind GET pods/NAME/log
// (tailLines, timestamps, follow, previous, limitBytes, sinceSeconds).
import { EventEmitter } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';

export interface LogLine {
  time: string;
  stream: 'stdout' | 'stderr';
  text: string;
}

function nanoTime(): string {
  return new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

export class ContainerLog extends EventEmitter {
  readonly path: string;
  #file: WriteStream;
  #partial = { stdout: '', stderr: '' };
  #ended = false;

  constructor(path: string) {
    super();
    this.path = path;
    this.#file = createWriteStream(path, { flags: 'a' });
    this.#file.on('error', () => {});
  }

  get ended(): boolean {
    return this.#ended;
  }

  attach(stream: Readable, kind: 'stdout' | 'stderr'): void {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const text = this.#partial[kind] + chunk;
      const lines = text.split('\n');
      this.#partial[kind] = lines.pop() ?? '';
      for (const l of lines) this.#line(kind, l);
    });
    stream.on('end', () => {
      if (this.#partial[kind]) this.#line(kind, this.#partial[kind]);
      this.#partial[kind] = '';
    });
  }

  #line(stream: 'stdout' | 'stderr', text: string): void {
    const line: LogLine = { time: nanoTime(), stream, text };
    this.#file.write(`${line.time} ${stream} F ${text}\n`);
    this.emit('line', line);
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#file.end();
    this.emit('end');
  }
}

export function parseLogFile(content: string): LogLine[] {
  const out: LogLine[] = [];
  for (const raw of content.split('\n')) {
    const m = /^(\S+) (stdout|stderr) [FP] (.*)$/.exec(raw);
    if (m?.[1] && m[2] && m[3] !== undefined) out.push({ time: m[1], stream: m[2] as 'stdout' | 'stderr', text: m[3] });
  }
  return out;
}

export interface LogQuery {
  tailLines?: number;
  timestamps: boolean;
  follow: boolean;
  limitBytes?: number;
  sinceSeconds?: number;
}

export function formatLine(l: LogLine, timestamps: boolean): string {
  return timestamps ? `${l.time} ${l.text}\n` : `${l.text}\n`;
}

export async function readLog(path: string, q: LogQuery): Promise<LogLine[]> {
  let lines = parseLogFile(await readFile(path, 'utf8').catch(() => ''));
  if (q.sinceSeconds !== undefined) {
    const since = Date.now() - q.sinceSeconds * 1000;
    lines = lines.filter((l) => Date.parse(l.time) >= since);
  }
  if (q.tailLines !== undefined) lines = q.tailLines === 0 ? [] : lines.slice(-q.tailLines);
  return lines;
}
