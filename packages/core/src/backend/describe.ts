/** The one line that reports a backend choice, the same in Node and in a browser. */
export function describeBackend(info: { name: string; tfjsBackend: string; threads: number; simd: boolean; reason: string }): string {
  const details = info.name === 'cpu' ? '' : `, ${info.threads} thread${info.threads === 1 ? '' : 's'}${info.simd ? ', SIMD' : ''}`;
  return `@ssl backend: ${info.name} (tfjs '${info.tfjsBackend}'${details}): ${info.reason}`;
}
