// Copies the API explorer's assets from swagger-ui-dist (a devDependency) into build/api-explorer/, which the
// package ships. So installing the allowance package installs neither swagger-ui-dist nor the analytics
// postinstall that swagger-ui-dist depends on (@scarf/scarf). Its license and notice travel with the files.
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const out = join(root, 'build/api-explorer');
// The files src/http/docs.ts serves, with the license texts.
const FILES = [
  'swagger-ui.css',
  'swagger-ui-bundle.js',
  'swagger-ui-bundle.js.LICENSE.txt',
  'favicon-32x32.png',
  'LICENSE',
  'NOTICE',
  'package.json',
];
await mkdir(out, { recursive: true });
for (const f of FILES) await copyFile(join(dist, f), join(out, f));
console.log(`api explorer assets: ${FILES.length} files into build/api-explorer`);
