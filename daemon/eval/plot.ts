/**
 * The privacy/utility curve of `enfpire eval --plot` (DESIGN §7): server_top1, user_top1 and trajectory_acc against
 * k, with the 1/k line the server should not beat. Drawn as SVG and rasterised by sharp, so no plotting dependency.
 */
import sharp from 'sharp';
import type { PrivacyFigures } from './eval-harness.js';

const W = 720;
const H = 440;
const M = { left: 60, right: 170, top: 30, bottom: 50 };

const SERIES = [
  { key: 'user_top1', label: 'user_top1', color: '#1b7837' },
  { key: 'server_top1', label: 'server_top1', color: '#b2182b' },
  { key: 'trajectory_acc', label: 'trajectory_acc', color: '#2166ac' },
] as const;

export function curveSvg(curve: readonly PrivacyFigures[], title: string): string {
  const ks = curve.map((f) => f.k);
  const kMin = Math.min(...ks, 1);
  const kMax = Math.max(...ks, 2);
  const x = (k: number) => M.left + ((k - kMin) / (kMax - kMin)) * (W - M.left - M.right);
  const y = (v: number) => M.top + (1 - v) * (H - M.top - M.bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left}" y="18" font-size="14">${escape(title)}</text>`,
  ];
  for (let v = 0; v <= 1.0001; v += 0.2) {
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    parts.push(`<text x="${M.left - 8}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(1)}</text>`);
  }
  for (let k = kMin; k <= kMax; k++) {
    parts.push(`<text x="${x(k)}" y="${H - M.bottom + 18}" text-anchor="middle">${k}</text>`);
  }
  parts.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 12}" text-anchor="middle">k (anonymity set size)</text>`);
  parts.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${H - M.bottom}" stroke="black"/>`);
  parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" stroke="black"/>`);
  // 1/k, sampled finely so it is drawn as the curve it is.
  const chance: string[] = [];
  for (let k = kMin; k <= kMax + 1e-9; k += 0.1) chance.push(`${x(k).toFixed(1)},${y(1 / k).toFixed(1)}`);
  parts.push(`<polyline points="${chance.join(' ')}" fill="none" stroke="#777" stroke-dasharray="5,4"/>`);
  const legend: { label: string; color: string; dash?: boolean }[] = [...SERIES, { label: '1/k (chance)', color: '#777', dash: true }];
  for (const s of SERIES) {
    const points = curve.map((f) => `${x(f.k).toFixed(1)},${y(f[s.key]).toFixed(1)}`);
    parts.push(`<polyline points="${points.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const f of curve) parts.push(`<circle cx="${x(f.k)}" cy="${y(f[s.key])}" r="3" fill="${s.color}"/>`);
  }
  legend.forEach((l, i) => {
    const ly = M.top + 10 + i * 20;
    parts.push(
      `<line x1="${W - M.right + 15}" x2="${W - M.right + 40}" y1="${ly}" y2="${ly}" stroke="${l.color}" stroke-width="2"${l.dash ? ' stroke-dasharray="5,4"' : ''}/>`,
      `<text x="${W - M.right + 46}" y="${ly + 4}">${escape(l.label)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Renders the curve to a PNG file. */
export async function writeCurvePng(path: string, curve: readonly PrivacyFigures[], title: string): Promise<void> {
  await sharp(Buffer.from(curveSvg(curve, title))).png().toFile(path);
}

function escape(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}
