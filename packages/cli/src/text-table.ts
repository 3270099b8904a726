/** A plain aligned text table for terminals; columns listed in `rightAligned` (numbers) align right. */
export function formatTextTable(
  header: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  options: { rightAligned?: readonly number[] } = {},
): string {
  const rightAligned = new Set(options.rightAligned ?? []);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const formatRow = (row: readonly string[]) =>
    header
      .map((_, column) => {
        const cell = row[column] ?? '';
        return rightAligned.has(column) ? cell.padStart(widths[column]) : cell.padEnd(widths[column]);
      })
      .join('  ')
      .trimEnd();
  return [formatRow(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(formatRow)].join('\n') + '\n';
}
