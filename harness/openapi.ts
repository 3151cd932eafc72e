// The public API's OpenAPI document (src/frontend/openapi.json) as the tests' referee: every reply a
// test receives from a frontend through `http()` (helpers/cluster.ts) is checked against it, its
// body against the response schema of its path, method and status (JSON Schema 2020-12, as
// OpenAPI 3.1 uses), and a 503 for its Retry-After.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

export const OPENAPI_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/frontend/openapi.json');

interface Operation {
  readonly responses: Record<string, { $ref?: string; content?: Record<string, { schema: object }>; headers?: Record<string, { required?: boolean }> }>;
}
interface Document {
  readonly paths: Record<string, Record<string, Operation>>;
  readonly components: { responses: Record<string, Operation['responses'][string]> };
}

const document = JSON.parse(readFileSync(OPENAPI_PATH, 'utf8')) as Document;
const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema(document, 'openapi.json');
const compiled = new Map<string, ValidateFunction>();

function validator(pointer: string): ValidateFunction {
  let validate = compiled.get(pointer);
  if (validate === undefined) {
    validate = ajv.compile({ $ref: `openapi.json#${pointer}` });
    compiled.set(pointer, validate);
  }
  return validate;
}

/** The document's path template that `pathname` matches, if any (`{name}` matches one segment). */
function templateOf(pathname: string): string | undefined {
  return Object.keys(document.paths).find((template) => new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+').replace(/\./g, '\\.')}$`).test(pathname));
}

const escape = (segment: string): string => segment.replace(/~/g, '~0').replace(/\//g, '~1');

/** Origins (`http://host:port`) of frontends under test; replies from them are checked. */
export const PUBLIC_ORIGINS = new Set<string>();

/**
 * What is wrong with a frontend's reply by the document; empty when it conforms. Internal paths
 * (`/internal/…`, behind the cluster token) are not part of the public API and are not checked.
 */
export function conformance(method: string, url: URL, status: number, headers: Headers, body: unknown): string[] {
  if (url.pathname.startsWith('/internal/')) return [];
  const where = `${method} ${url.pathname} -> ${status}`;
  const template = templateOf(url.pathname);
  const operation = template === undefined ? undefined : document.paths[template]![method.toLowerCase()];
  if (operation === undefined) {
    // An undocumented path or method may only be refused, with the error shape.
    if (status < 400) return [`${where}: the frontend answered a path or method the document does not describe`];
    return errorsOf(validator('/components/schemas/Error'), body, where);
  }
  let response = operation.responses[String(status)];
  if (response === undefined) {
    // Refusals every route can give (a body too large, an overloaded server, a wrong media type) keep the error shape.
    if (status >= 400) return errorsOf(validator('/components/schemas/Error'), body, `${where} (not listed)`);
    return [`${where}: status not in the document`];
  }
  const problems: string[] = [];
  let pointer = `/paths/${escape(template!)}/${method.toLowerCase()}/responses/${status}`;
  if (response.$ref !== undefined) {
    pointer = response.$ref.slice(1);
    response = document.components.responses[response.$ref.split('/').pop()!]!;
  }
  for (const [name, header] of Object.entries(response.headers ?? {})) if (header.required === true && !headers.has(name)) problems.push(`${where}: header ${name} is missing`);
  const json = response.content?.['application/json'];
  if (json !== undefined) problems.push(...errorsOf(validator(`${pointer}/content/application~1json/schema`), body, where));
  return problems;
}

function errorsOf(validate: ValidateFunction, body: unknown, where: string): string[] {
  if (validate(body)) return [];
  return (validate.errors ?? []).map((error) => `${where}: ${error.instancePath || '(body)'} ${error.message ?? 'is invalid'} (${JSON.stringify(body).slice(0, 200)})`);
}
