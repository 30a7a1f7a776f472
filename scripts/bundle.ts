/**
 * Bundles the agent into one minified ESM file, dist/kured-ts.mjs: what the image runs, and what
 * the end-to-end tests run. One file loads faster and uses far less memory than node_modules.
 */
import { build } from 'esbuild';

const result = await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/kured-ts.mjs',
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  metafile: true,
  // Some dependencies are CommonJS and call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  logLevel: 'warning',
});
const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
process.stdout.write(`bundle: dist/kured-ts.mjs ${(bytes / 1024).toFixed(0)} KiB\n`);
