// Benchmark output: a readable table by default, one JSON object with --json.
import os from 'node:os';

export interface BenchReport {
  name: string;
  /** Column headers, then rows of cells, for the human table. */
  table: { columns: string[]; rows: (string | number)[][] };
  /** Machine-readable figures; printed as one JSON object with --json. */
  figures: Record<string, unknown>;
  notes?: string[];
}

export function machineInfo(): Record<string, unknown> {
  return {
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
  };
}

export function formatTable(columns: string[], rows: (string | number)[][]): string {
  const cells = [columns, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: (string | number)[]) => `| ${r.map((c, i) => String(c ?? '').padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [
    line(cells[0] ?? []),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...cells.slice(1).map(line),
  ].join('\n');
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  return n.toLocaleString('en-US', { maximumFractionDigits: n < 10 ? 3 : 1 });
}

export function printReport(report: BenchReport, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ name: report.name, machine: machineInfo(), ...report.figures })}\n`);
    return;
  }
  process.stdout.write(`\n## ${report.name}\n\n${formatTable(report.table.columns, report.table.rows)}\n`);
  for (const note of report.notes ?? []) process.stdout.write(`\n${note}\n`);
}

/** Percentile of an unsorted sample (nearest-rank). */
export function percentile(sample: readonly number[], p: number): number {
  if (sample.length === 0) return Number.NaN;
  const sorted = [...sample].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}
