import type { CliIo } from '../cli-io';
import { loadRegistry } from '../plugins';
import { formatTextTable } from '../text-table';

export interface ListCommandOptions {
  json: boolean;
  verbose: boolean;
}

/** Prints every registered method with the plugin (and version) that provides it, then every view policy. */
export async function runListCommand(io: CliIo, options: ListCommandOptions): Promise<void> {
  const { registry, warnings } = await loadRegistry(io.cwd);
  const methods = registry.list();
  const viewPolicies = Object.values(registry.parts().viewPolicies).map((policy) => ({
    name: policy.name,
    description: policy.description,
  }));
  if (options.json) {
    io.stdout.write(`${JSON.stringify({ methods, viewPolicies, warnings }, null, 2)}\n`);
    return;
  }
  for (const warning of warnings) io.stderr.write(`ssl: warning: ${warning}\n`);
  if (methods.length === 0) {
    io.stdout.write('No methods registered. Install a plugin, e.g. `pnpm add @ssl/contrastive` or an `ssl-plugin-*` package.\n');
    return;
  }
  const plugins = registry.plugins();
  io.stdout.write(`${plugins.length} plugin(s): ${plugins.map((plugin) => `${plugin.name}@${plugin.version}`).join(', ')}\n\n`);
  io.stdout.write(
    formatTextTable(
      ['method', 'data', 'plugin', 'description'],
      methods.map((method) => [method.id, method.data, `${method.plugin}@${method.pluginVersion}`, method.description]),
    ),
  );
  io.stdout.write(
    `\n${formatTextTable(
      ['view policy', 'views'],
      viewPolicies.map((policy) => [policy.name, policy.description]),
    )}`,
  );
}
