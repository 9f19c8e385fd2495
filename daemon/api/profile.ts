import { configSchema } from '../config/load.js';
import type { SchemaNode } from '../config/problems.js';
import type { EdgeConfig } from '../config/types.js';

/**
 * The profile in effect as the operator's page shows it (GET /config): every setting, defaults filled in, and no
 * secret. The schema says which settings are secrets (format 'secret-file'): the loader puts each file's content
 * beside it (passwordFile → password), and that value is dropped here; where the file is stays visible.
 */
export function redactedProfile(config: EdgeConfig): Record<string, unknown> {
  const copy = structuredClone(config) as unknown as Record<string, unknown>;
  dropSecrets(configSchema('edge'), copy);
  return copy;
}

function dropSecrets(schema: SchemaNode, data: Record<string, unknown>): void {
  for (const [key, node] of Object.entries(schema.properties ?? {})) {
    const value = data[key];
    if (node.properties && value && typeof value === 'object') dropSecrets(node, value as Record<string, unknown>);
    else if (node.format === 'secret-file') delete data[key.replace(/File$/, '')];
  }
}
