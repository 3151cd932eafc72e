// The dashboard page's files by URL path. Plain JavaScript so that build.mjs (plain node) and the
// server under tsx read the same list: the build embeds them into dist/bazaar.mjs, a source run reads
// them from here. uPlot (charts) comes from node_modules and is embedded the same way: no CDN.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * Every file of the page: URL path -> { type, body }. Resolved only when called (by the build, or a
 * source run): the bundle carries this module but never calls it, and must not look for node_modules.
 */
export function readPageFiles() {
  const require = createRequire(import.meta.url);
  const files = [
    { path: '/', type: 'text/html; charset=utf-8', from: new URL('./index.html', import.meta.url) },
    { path: '/app.js', type: 'text/javascript; charset=utf-8', from: new URL('./app.js', import.meta.url) },
    { path: '/style.css', type: 'text/css; charset=utf-8', from: new URL('./style.css', import.meta.url) },
    { path: '/uplot.js', type: 'text/javascript; charset=utf-8', from: require.resolve('uplot/dist/uPlot.iife.min.js') },
    { path: '/uplot.css', type: 'text/css; charset=utf-8', from: require.resolve('uplot/dist/uPlot.min.css') },
  ];
  return Object.fromEntries(files.map((file) => [file.path, { type: file.type, body: readFileSync(file.from, 'utf8') }]));
}
