/**
 * The import rule of docs/architecture.md, checked on the source: every `import … from`, `export … from`,
 * side-effect `import '…'` and dynamic `import('…')` of every file under src/, type-only ones included
 * (a type import still couples the layers, and tsup's declaration bundles follow it).
 *
 *   entry points (index, internals, store, otel)
 *   adapters/  cli/  testing/
 *   engine/
 *   stores/
 *   core/
 *
 * A layer imports only layers below it (adapters reach stores through engine/store-access.ts), and no
 * module reaches itself again through the imports that run when it loads. A dynamic `import()` obeys the
 * layers but is no part of a cycle: it runs after both modules have loaded, so neither can see the other
 * half-made (stores/registry.ts loads each store on demand, and each store declares itself to it).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

type Layer = 'core' | 'stores' | 'engine' | 'adapters' | 'testing' | 'cli' | 'entry';

/** What each layer must not import. */
const FORBIDDEN: Record<Layer, readonly Layer[]> = {
  core: ['stores', 'engine', 'adapters', 'testing', 'cli', 'entry'],
  stores: ['engine', 'adapters', 'testing', 'cli', 'entry'],
  engine: ['adapters', 'testing', 'cli', 'entry'],
  adapters: ['stores', 'testing', 'cli', 'entry'],
  testing: ['adapters', 'cli', 'entry'],
  cli: ['adapters', 'engine', 'testing', 'entry'],
  entry: [],
};

/**
 * Imports that break a rule above on purpose, as `from -> to` (paths under src/), each with its reason.
 * None at present: an adapter needs nothing of a store that engine/store-access.ts does not offer.
 */
const EXCEPTIONS: ReadonlyMap<string, string> = new Map<string, string>([]);

function layerOf(file: string): Layer {
  const top = file.split('/')[0] as string;
  if (file === top) return 'entry';
  if (['core', 'stores', 'engine', 'adapters', 'testing', 'cli'].includes(top)) return top as Layer;
  throw new Error(`${file}: no layer for src/${top}/; add it to FORBIDDEN and docs/architecture.md`);
}

/** The source without comments, strings left in place (a `//` inside 'redis://…' is no comment). */
function withoutComments(source: string): string {
  let out = '';
  let i = 0;
  while (i < source.length) {
    const ch = source[i] as string;
    const next = source[i + 1];
    if (ch === '/' && next === '/') {
      while (i < source.length && source[i] !== '\n') i++;
    } else if (ch === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      i = end === -1 ? source.length : end + 2;
    } else if (ch === "'" || ch === '"' || ch === '`') {
      let j = i + 1;
      while (j < source.length && source[j] !== ch) j += source[j] === '\\' ? 2 : 1;
      out += source.slice(i, j + 1);
      i = j + 1;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

const STATIC_IMPORTS = [
  /\bimport\s+(?:type\s+)?[\w*{}\s,$]*?\bfrom\s*['"]([^'"]+)['"]/g,
  /\bexport\s+(?:type\s+)?(?:\*(?:\s+as\s+\w+)?|\{[^}]*\})\s*from\s*['"]([^'"]+)['"]/g,
  /\bimport\s*['"]([^'"]+)['"]/g,
];
const DYNAMIC_IMPORT = /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g;

interface Import {
  specifier: string;
  /** A dynamic `import()`, run on demand rather than when the module loads. */
  lazy: boolean;
}

/** What a module imports, in every form. */
function importsOf(source: string): Import[] {
  const code = withoutComments(source);
  const found: Import[] = [];
  for (const pattern of STATIC_IMPORTS)
    for (const match of code.matchAll(pattern)) found.push({ specifier: match[1] as string, lazy: false });
  for (const match of code.matchAll(DYNAMIC_IMPORT))
    found.push({ specifier: match[1] as string, lazy: true });
  return found;
}

/** Each src file (relative to src/, `/`-separated) to the src files it imports. */
type Graph = Map<string, { to: string; lazy: boolean }[]>;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [relative(SRC, path).split('\\').join('/')] : [];
  });
}

function graphOfSrc(): Graph {
  const graph: Graph = new Map();
  for (const file of sourceFiles(SRC)) {
    const targets = importsOf(readFileSync(join(SRC, file), 'utf8'))
      .filter(({ specifier }) => specifier.startsWith('.'))
      .map(({ specifier, lazy }) => ({
        to: relative(SRC, resolve(SRC, dirname(file), specifier))
          .split('\\')
          .join('/')
          .replace(/\.js$/, '.ts'),
        lazy,
      }))
      // Outside src/ (package.json) is no module of ours.
      .filter(({ to }) => !to.startsWith('..'));
    graph.set(file, targets);
  }
  return graph;
}

/** Every import that runs against the layering, as `from -> to`. */
function violations(graph: Graph): string[] {
  const out: string[] = [];
  for (const [from, targets] of graph) {
    const forbidden = FORBIDDEN[layerOf(from)];
    for (const { to } of targets) {
      const arrow = `${from} -> ${to}`;
      if (forbidden.includes(layerOf(to)) && !EXCEPTIONS.has(arrow)) out.push(arrow);
    }
  }
  return out;
}

/** Every cycle of imports run at load time, each as the path that closes it (`a -> b -> a`). */
function cycles(graph: Graph): string[] {
  const out: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    path.push(file);
    for (const { to, lazy } of graph.get(file) ?? []) {
      if (lazy) continue;
      if (state.get(to) === 'open') out.push([...path.slice(path.indexOf(to)), to].join(' -> '));
      else if (!state.has(to)) visit(to);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return out;
}

describe('the import graph of src/', () => {
  const graph = graphOfSrc();

  it('reads every src file and resolves every relative import to a src file', () => {
    expect(graph.size).toBeGreaterThan(50);
    for (const [from, targets] of graph)
      for (const { to } of targets)
        expect(graph.has(to), `${from} imports ${to}, which is not a src file`).toBe(true);
    // The rule's key arrows are seen, so an empty parse cannot pass the tests below.
    const targets = (file: string) => graph.get(file)?.map(({ to, lazy }) => `${to}${lazy ? ' (lazy)' : ''}`);
    expect(targets('engine/store-access.ts')).toContain('stores/memory.ts');
    expect(targets('adapters/express.ts')).toContain('engine/manager.ts');
    expect(targets('stores/registry.ts')).toContain('stores/memory.ts (lazy)');
  });

  it('runs only downwards: core imports nothing above it, stores only core, engine neither adapters nor cli, adapters no store', () => {
    expect(violations(graph)).toEqual([]);
  });

  it('has no import cycles', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('lists only exceptions that are still imports', () => {
    for (const arrow of EXCEPTIONS.keys()) {
      const [from, to] = arrow.split(' -> ') as [string, string];
      expect(
        graph.get(from)?.map((edge) => edge.to),
        arrow,
      ).toContain(to);
    }
  });
});

describe('the checker', () => {
  it('finds every form of import, and none in comments', () => {
    const source = [
      "import { a } from './a.js';",
      "import type { B } from '../core/b.js';",
      "import * as c from './c.js';",
      "import './d.js';",
      "export { e } from './e.js';",
      "export * from './f.js';",
      "export type { G } from './g.js';",
      "const h = await import('./h.js');",
      "// import { x } from './commented.js';",
      "/** import('./doc.js') */",
      "const url = 'redis://host/0'; import { i } from './i.js';",
    ].join('\n');
    expect(importsOf(source)).toEqual([
      ...['./a.js', '../core/b.js', './c.js', './i.js', './e.js', './f.js', './g.js', './d.js'].map(
        (specifier) => ({
          specifier,
          lazy: false,
        }),
      ),
      { specifier: './h.js', lazy: true },
    ]);
  });

  const edges = (...to: string[]) => to.map((file) => ({ to: file, lazy: false }));

  it('reports an arrow from a lower layer to a higher one, and from an adapter to a store', () => {
    const graph: Graph = new Map([
      ['core/session.ts', edges('engine/manager.ts', 'core/cookie.ts')],
      ['stores/memory.ts', edges('engine/options.ts', 'core/id.ts')],
      ['engine/manager.ts', edges('adapters/express.ts', 'stores/memory.ts')],
      ['adapters/koa.ts', edges('stores/memory.ts', 'engine/manager.ts')],
    ]);
    expect(violations(graph)).toEqual([
      'core/session.ts -> engine/manager.ts',
      'stores/memory.ts -> engine/options.ts',
      'engine/manager.ts -> adapters/express.ts',
      'adapters/koa.ts -> stores/memory.ts',
    ]);
  });

  it('reports a cycle of static imports, not one closed by a dynamic import()', () => {
    const graph: Graph = new Map([
      ['engine/a.ts', edges('engine/b.ts')],
      ['engine/b.ts', edges('engine/c.ts')],
      ['engine/c.ts', edges('engine/a.ts')],
      ['engine/d.ts', edges('engine/a.ts')],
      ['stores/registry.ts', [{ to: 'stores/x.ts', lazy: true }]],
      ['stores/x.ts', edges('stores/registry.ts')],
    ]);
    expect(cycles(graph)).toEqual(['engine/a.ts -> engine/b.ts -> engine/c.ts -> engine/a.ts']);
  });
});
