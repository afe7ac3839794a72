// The viewer in a real browser: Debian's chromium driven by playwright-core,
// axe-core on every page (WCAG 2.0-2.2 A and AA rules), keyboard use (the
// skip link first, a visible focus on every control, no trap), reflow at
// 320 px and at 200% zoom, no Content-Security-Policy violation, and a
// screenshot of each page. Usage:
//   node viewer_a11y.mjs BASE_URL SCREENSHOT_DIR PATH...
// Prints one JSON object a line per page and a summary; exits 1 on any failure.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(process.env.A11Y_MODULES + '/');
const { chromium } = require('playwright-core');
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const [base, shots, ...paths] = process.argv.slice(2);
fs.mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox'],
});
let failed = 0;

function name(p) {
  return (p.replace(/^\/viewer\/?/, '').replace(/[^a-zA-Z0-9]+/g, '_') || 'index').slice(0, 80);
}

// A page as the user's browser sees it: the CSP enforced, violations counted.
async function strict(p, width, scale) {
  const ctx = await browser.newContext({ viewport: { width, height: 900 }, deviceScaleFactor: scale });
  const page = await ctx.newPage();
  const violations = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/.test(m.text())) violations.push(m.text());
  });
  const resp = await page.goto(base + p, { waitUntil: 'load' });
  return { ctx, page, violations, status: resp.status() };
}

for (const p of paths) {
  const out = { page: p, problems: [] };
  // axe is injected into a context that lets it run (the page's CSP would
  // refuse an injected script, as it should); everything else runs strict.
  const actx = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
  const apage = await actx.newPage();
  const resp = await apage.goto(base + p, { waitUntil: 'load' });
  if (resp.status() !== 200) out.problems.push(`status ${resp.status()}`);
  await apage.addScriptTag({ content: axeSource });
  const axe = await apage.evaluate(async () =>
    await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
      resultTypes: ['violations'],
    }));
  for (const v of axe.violations)
    out.problems.push(`axe ${v.id} (${v.impact}): ${v.nodes.length} node(s), e.g. ${v.nodes[0].target.join(' ')}`);
  await apage.screenshot({ path: path.join(shots, name(p) + '.png'), fullPage: true });
  await actx.close();

  // Keyboard: the first Tab reaches the skip link; Enter on it moves focus
  // to main; every focusable control shows a visible focus; tabbing through
  // the whole page comes back round (no trap).
  const s = await strict(p, 1280, 1);
  await s.page.keyboard.press('Tab');
  const first = await s.page.evaluate(() => document.activeElement && document.activeElement.className);
  if (first !== 'skip') out.problems.push(`first Tab focuses "${first}", not the skip link`);
  await s.page.keyboard.press('Enter');
  const afterSkip = await s.page.evaluate(() => document.activeElement && document.activeElement.id);
  if (afterSkip !== 'main') out.problems.push(`the skip link moves focus to "${afterSkip}", not main`);
  const total = await s.page.evaluate(() =>
    document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])').length);
  const seen = new Set();
  let wrapped = false;
  for (let i = 0; i < total + 3; i++) {
    await s.page.keyboard.press('Tab');
    const f = await s.page.evaluate(() => {
      const e = document.activeElement;
      if (!e || e === document.body) return null;
      const cs = getComputedStyle(e);
      const visible = (cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2) ||
        cs.boxShadow !== 'none';
      return { key: e.outerHTML.slice(0, 80), visible };
    });
    if (!f) { wrapped = true; break; }
    if (!f.visible) out.problems.push(`no visible focus on ${f.key}`);
    if (seen.has(f.key) && seen.size > 1) { wrapped = true; break; }
    seen.add(f.key);
  }
  if (!wrapped && total > 0 && seen.size < Math.min(total, 3))
    out.problems.push(`keyboard focus stuck after ${seen.size} of ${total} controls`);
  if (s.violations.length) out.problems.push(`CSP: ${s.violations[0]}`);
  await s.ctx.close();

  // Reflow: no horizontal scrolling of the page at 320 CSS px, nor at 200%
  // zoom of a 1280 px window (640 CSS px). Wide tables scroll in their own
  // focusable region, which WCAG 1.4.10 allows for data tables.
  for (const [width, scale, label] of [[320, 1, '320px'], [640, 2, '200%']]) {
    const r = await strict(p, width, scale);
    const wide = await r.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (wide > 1) out.problems.push(`at ${label} the page scrolls sideways by ${wide}px`);
    if (label === '320px')
      await r.page.screenshot({ path: path.join(shots, name(p) + '.320.png'), fullPage: true });
    await r.ctx.close();
  }
  if (out.problems.length) failed++;
  console.log(JSON.stringify(out));
}
await browser.close();
console.log(JSON.stringify({ pages: paths.length, failed }));
process.exit(failed ? 1 : 0);
