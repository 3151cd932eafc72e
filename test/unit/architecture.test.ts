// What docs/architecture.md claims of the house, checked on the source itself: no import circle in
// src/ (type imports included), no file over FILE_LINES_MAX lines, and no role importing another
// role's folder (nor shared code importing a role), but for the one exception the map names; internal
// paths spelled only where their messages are declared.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');
const FILE_LINES_MAX = 500;
const ROLES = ['admin', 'catalog', 'client', 'dashboard', 'frontend', 'order', 'up'];
/** The dashboard is an operator's console: it runs admin's crash and recover and the client's load, through their index.ts. */
const ALLOWED = new Set(['dashboard/actions.ts -> admin/index.ts', 'dashboard/actions.ts -> client/index.ts']);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith('.ts') ? [path.relative(SRC, full)] : [];
  });
}

/** Every relative import and re-export of a file, type-only ones included, as paths under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(SRC, file), 'utf8');
  const targets: string[] = [];
  for (const match of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'(\.{1,2}\/[^']+)'/gms)) {
    targets.push(path.normalize(path.join(path.dirname(file), match[1]!)));
  }
  return targets;
}

const files = sources(SRC);
const graph = new Map(files.map((file) => [file, importsOf(file)]));

test('src/ has no import circle, type imports included', () => {
  const state = new Map<string, 'visiting' | 'done'>();
  const circles: string[] = [];
  const visit = (file: string, trail: string[]): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'visiting') {
      circles.push([...trail.slice(trail.indexOf(file)), file].join(' -> '));
      return;
    }
    state.set(file, 'visiting');
    for (const target of graph.get(file) ?? []) if (graph.has(target)) visit(target, [...trail, file]);
    state.set(file, 'done');
  };
  for (const file of files) visit(file, []);
  assert.deepEqual(circles, []);
});

test(`no file in src/ is over ${FILE_LINES_MAX} lines`, () => {
  const long = files.map((file) => [file, readFileSync(path.join(SRC, file), 'utf8').split('\n').length] as const).filter(([, lines]) => lines > FILE_LINES_MAX);
  assert.deepEqual(long, []);
});

test('no role imports another role\'s folder, and shared code imports no role (but for the dashboard\'s console actions)', () => {
  const crossings: string[] = [];
  for (const [file, targets] of graph) {
    const from = file.split(path.sep)[0]!;
    for (const target of targets) {
      const to = target.split(path.sep)[0]!;
      if (from === to || !ROLES.includes(to)) continue;
      const edge = `${file} -> ${target}`;
      if (!ALLOWED.has(edge)) crossings.push(edge);
    }
  }
  assert.deepEqual(crossings, []);
});

test('internal paths are spelled only in src/protocol/, where each message is declared once', () => {
  const spelled = files.filter((file) => !file.startsWith(`protocol${path.sep}`) && /['`]\/internal\//.test(readFileSync(path.join(SRC, file), 'utf8')));
  assert.deepEqual(spelled, []);
  assert.ok(files.some((file) => file.startsWith(`protocol${path.sep}`) && readFileSync(path.join(SRC, file), 'utf8').includes("'/internal/append'")), 'the check looks where they are');
});

test('the checks see the tree: every role folder has files and imports were found', () => {
  for (const role of ROLES) assert.ok(files.some((file) => file.startsWith(`${role}${path.sep}`)), `src/${role}/ has sources`);
  assert.ok([...graph.values()].reduce((sum, targets) => sum + targets.length, 0) > files.length, 'imports are parsed');
});
