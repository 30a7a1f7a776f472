/**
 * The floors of src/, read from the code's own imports: `node scripts/layers.ts` prints every
 * folder with the folders it imports, floor by floor from the top, and exits non-zero naming each
 * import that runs up a floor, sideways within one, or out of src/. test/unit/layers.test.ts runs
 * the same check in `make test`.
 *
 * A room is a folder of src/ (src/agent/) or a file directly in it (src/wire.ts). Every import goes
 * down: src/core/ is the ground floor and imports nothing of ours; src/main.ts and src/wire.ts are
 * the only rooms that know every other. A new folder gets a floor here before it can be imported.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** Top to bottom. A room imports only rooms on floors below its own (never one on the same floor). */
export const FLOORS: readonly (readonly string[])[] = [
  ['main.ts'],
  ['wire.ts'],
  ['cli'],
  ['config', 'agent'],
  ['notify', 'observe', 'reboot', 'health', 'gates'],
  ['drain', 'lock'],
  ['kube'],
  ['core'],
];

export interface Arrow {
  from: string;
  to: string;
  /** The importing file and the specifier, relative to the repository. */
  file: string;
  spec: string;
}

const ROOT = resolve(import.meta.dirname, '..');
const SRC = join(ROOT, 'src');

/** import ... from '...', export ... from '...', import('...'), import '...'. */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (/\.m?ts$/.test(entry.name)) yield path;
  }
}

/** The room a path of src/ belongs to; undefined outside src/. */
export function roomOf(path: string): string | undefined {
  const rel = relative(SRC, path);
  if (rel.startsWith('..')) return undefined;
  return rel.split('/')[0];
}

/** Every import of one of our files by another room (or of a file outside src/). */
export function arrows(): Arrow[] {
  const found: Arrow[] = [];
  for (const file of sources(SRC)) {
    const from = roomOf(file)!;
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
      if (!spec?.startsWith('.')) continue;
      const target = resolve(dirname(file), spec);
      const to = roomOf(target) ?? relative(ROOT, target);
      if (to !== from) found.push({ from, to, file: relative(ROOT, file), spec });
    }
  }
  return found;
}

function floorOf(room: string): number {
  return FLOORS.findIndex((floor) => floor.includes(room));
}

/** One line per wrong import; empty when every arrow points down. */
export function violations(all: Arrow[] = arrows()): string[] {
  const wrong: string[] = [];
  const rooms = new Set(readdirSync(SRC).filter((e) => !e.endsWith('.d.ts')));
  for (const room of rooms) {
    if (floorOf(room) < 0) wrong.push(`src/${room} has no floor: give it one in FLOORS (scripts/layers.ts)`);
  }
  for (const a of all) {
    const from = floorOf(a.from);
    const to = floorOf(a.to);
    if (to < 0 && !rooms.has(a.to)) {
      wrong.push(`${a.file} imports ${a.spec}, outside src/: the product must not depend on it`);
    } else if (from >= 0 && to >= 0 && to <= from) {
      const how = to === from ? 'sideways, on the same floor' : 'up a floor';
      wrong.push(`${a.file} imports ${a.spec}: src/${a.from} -> src/${a.to} runs ${how}`);
    }
  }
  return wrong;
}

/** Floor by floor: each room with its lines of code and the rooms it imports (count of imports). */
export function picture(all: Arrow[] = arrows()): string {
  const lines: string[] = [];
  const size = new Map<string, number>();
  for (const file of sources(SRC)) {
    const room = roomOf(file)!;
    size.set(room, (size.get(room) ?? 0) + readFileSync(file, 'utf8').split('\n').length - 1);
  }
  FLOORS.forEach((floor, i) => {
    for (const room of floor) {
      const out = new Map<string, number>();
      for (const a of all) if (a.from === room) out.set(a.to, (out.get(a.to) ?? 0) + 1);
      const to = [...out].map(([r, n]) => `${r} ${n}`).join(', ');
      lines.push(
        `floor ${FLOORS.length - i}  src/${room} (${size.get(room) ?? 0} lines)${to ? ` -> ${to}` : ''}`,
      );
    }
  });
  return lines.join('\n');
}

if (import.meta.main) {
  const all = arrows();
  console.log(picture(all));
  const wrong = violations(all);
  for (const line of wrong) console.error(line);
  if (wrong.length > 0) process.exit(1);
}
