import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * Just enough of OpenAPI 3.0 to hold a request or an answer against GitHub's
 * published description (@octokit/openapi): local `$ref`s, object
 * properties (required, unknown ones refused when `strict`), types,
 * `nullable`, `enum`, arrays, and `anyOf`/`oneOf`/`allOf`.
 */

export type Schema = Record<string, unknown>;

export interface OpenApi {
  paths: Record<string, Record<string, Schema>>;
  components: Record<string, Record<string, Schema>>;
}

/** GitHub's description of api.github.com: about 20 MB, so read once per test file. */
export function loadGithubDescription(): OpenApi {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('@octokit/openapi/package.json'));
  return JSON.parse(readFileSync(join(root, 'generated', 'api.github.com.json'), 'utf8')) as OpenApi;
}

/** Follows `$ref`s such as `#/components/schemas/status` until a schema that is not one. */
export function resolveRef(spec: OpenApi, schema: Schema): Schema {
  let current = schema;
  for (let depth = 0; typeof current.$ref === 'string'; depth += 1) {
    if (depth > 20) throw new Error(`$ref loop at ${current.$ref}`);
    const parts = (current.$ref as string).replace(/^#\//, '').split('/');
    let node: unknown = spec;
    for (const part of parts) node = (node as Record<string, unknown>)[part];
    if (node === undefined) throw new Error(`unresolved $ref ${current.$ref as string}`);
    current = node as Schema;
  }
  return current;
}

/** What is wrong with `value` against `schema`; empty when it fits. */
export function checkValue(spec: OpenApi, schemaOrRef: Schema, value: unknown, where: string, strict: boolean): string[] {
  const schema = resolveRef(spec, schemaOrRef);
  if (value === null) return schema.nullable === true ? [] : [`${where} is null, which the description does not allow`];
  for (const key of ['anyOf', 'oneOf'] as const) {
    const options = schema[key] as Schema[] | undefined;
    if (options !== undefined) {
      return options.some((option) => checkValue(spec, option, value, where, strict).length === 0) ? [] : [`${where} matches none of its ${key} schemas`];
    }
  }
  const all = schema.allOf as Schema[] | undefined;
  if (all !== undefined) return all.flatMap((part) => checkValue(spec, part, value, where, false));

  const problems: string[] = [];
  const enumValues = schema.enum as unknown[] | undefined;
  if (enumValues !== undefined && !enumValues.includes(value)) problems.push(`${where} is ${JSON.stringify(value)}, not one of ${JSON.stringify(enumValues)}`);
  switch (schema.type) {
    case 'string':
      if (typeof value !== 'string') problems.push(`${where} should be a string`);
      break;
    case 'integer':
      if (!Number.isInteger(value)) problems.push(`${where} should be an integer`);
      break;
    case 'number':
      if (typeof value !== 'number') problems.push(`${where} should be a number`);
      break;
    case 'boolean':
      if (typeof value !== 'boolean') problems.push(`${where} should be a boolean`);
      break;
    case 'array':
      if (!Array.isArray(value)) problems.push(`${where} should be an array`);
      else value.forEach((item, index) => problems.push(...checkValue(spec, (schema.items ?? {}) as Schema, item, `${where}[${index}]`, strict)));
      break;
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) {
        problems.push(`${where} should be an object`);
        break;
      }
      const record = value as Record<string, unknown>;
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      for (const name of (schema.required ?? []) as string[]) {
        if (!(name in record)) problems.push(`${where} lacks the required property ${name}`);
      }
      for (const [name, item] of Object.entries(record)) {
        const property = properties[name];
        if (property === undefined) {
          if (strict && schema.additionalProperties !== true) problems.push(`${where} has ${name}, which the description does not list`);
          continue;
        }
        problems.push(...checkValue(spec, property, item, `${where}.${name}`, strict));
      }
      break;
    }
    default:
      break;
  }
  return problems;
}

/** The path parameters of `template` (`/repos/{owner}/{repo}/statuses/{sha}`) in `path`, or undefined when it does not match. */
export function matchPath(template: string, path: string): Record<string, string> | undefined {
  const names: string[] = [];
  const pattern = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_match, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  const match = new RegExp(`^${pattern}$`).exec(path);
  if (match === null) return undefined;
  return Object.fromEntries(names.map((name, index) => [name, decodeURIComponent(match[index + 1] as string)]));
}
