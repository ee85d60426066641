import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Next } from 'koa';
import type { AppContext } from './types.js';

/**
 * The API explorer at /docs: Swagger UI (swagger-ui-dist's files, copied at build time into build/api-explorer
 * and shipped in the package, so installing it installs no swagger-ui-dist and its analytics postinstall; no
 * CDN) rendering /openapi.json of the same server, with "Try it out" against it (Authorize with a bearer token).
 */
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Allowance API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

// In a file of its own, so the page's Content-Security-Policy allows no inline script.
const INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  persistAuthorization: false,
  tryItOutEnabled: false,
  displayRequestDuration: true,
  presets: [SwaggerUIBundle.presets.apis],
});
`;

/** The only files served from build/api-explorer: a fixed list, so no request path reaches the file system. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** build/api-explorer, beside build/src (scripts/copy-api-explorer.mjs fills it). */
const ASSET_FOLDER = new URL('../../api-explorer/', import.meta.url);

/** Koa middleware answering GET/HEAD /docs, /docs/ and the explorer's assets; everything else goes on. */
export function apiExplorer() {
  const cache = new Map<string, Promise<Buffer>>();
  const asset = (name: string) => {
    let loading = cache.get(name);
    if (!loading) {
      loading = readFile(fileURLToPath(new URL(name, ASSET_FOLDER)));
      cache.set(name, loading);
      loading.catch(() => cache.delete(name));
    }
    return loading;
  };
  const serve = async (ctx: AppContext, next: Next) => {
    if (ctx.path === '/docs' || ctx.path === '/docs/') {
      ctx.set('Content-Security-Policy', CSP);
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = PAGE;
      return;
    }
    if (!ctx.path.startsWith('/docs/')) return next();
    const name = ctx.path.slice('/docs/'.length);
    if (name === 'init.js') {
      ctx.type = 'text/javascript; charset=utf-8';
      ctx.body = INIT;
    } else if (Object.hasOwn(ASSETS, name)) {
      ctx.type = ASSETS[name] as string;
      ctx.set('Cache-Control', 'public, max-age=86400');
      ctx.body = await asset(name);
    } else {
      return next();
    }
    ctx.set('X-Content-Type-Options', 'nosniff');
  };
  // Every other request passes through: no step of its own (this runs in front of every route).
  return (ctx: AppContext, next: Next) =>
    (ctx.method === 'GET' || ctx.method === 'HEAD') && ctx.path.startsWith('/docs') ? serve(ctx, next) : next();
}
