// An SVG heatmap of a matrix in [0, 1] (such as mean gate weights, tasks x experts), with value labels and a color scale.

import { writeFileAtomic, writeAll } from '../io/atomic.js';

export interface HeatmapOptions {
  title: string;
  rowLabels: string[];
  columnLabels: string[];
  /** Cell values values[r][c], expected in [0, 1]. Values outside are clamped for the color and printed as they are. */
  values: number[][];
  /** Caption of the color scale. */
  scaleLabel?: string;
}

const CELL_WIDTH = 56;
const CELL_HEIGHT = 32;
const FONT = 'font-family="sans-serif" font-size="12"';

/** Maps t in [0, 1] from white to a dark blue, linearly in sRGB. NaN maps to grey. */
export function heatColor(t: number): string {
  if (Number.isNaN(t)) return '#cccccc';
  const clamped = Math.min(1, Math.max(0, t));
  const channel = (from: number, to: number) => Math.round(from + (to - from) * clamped).toString(16).padStart(2, '0');
  return `#${channel(255, 8)}${channel(255, 48)}${channel(255, 107)}`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Builds the SVG text: one row per row label, one column per column label, each cell labelled with its value. */
export function heatmapSvg(options: HeatmapOptions): string {
  const { rowLabels, columnLabels, values } = options;
  if (values.length !== rowLabels.length || values.some((row) => row.length !== columnLabels.length)) {
    throw new RangeError(`heatmap: values must be ${rowLabels.length} x ${columnLabels.length} (rows x columns)`);
  }

  const labelWidth = Math.max(60, ...rowLabels.map((label) => 8 + 7 * label.length));
  const top = 48;
  const gridWidth = columnLabels.length * CELL_WIDTH;
  const gridHeight = rowLabels.length * CELL_HEIGHT;
  const scaleTop = top + gridHeight + 28;
  const width = labelWidth + Math.max(gridWidth, 220) + 16;
  const height = scaleTop + 52;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${labelWidth}" y="20" font-family="sans-serif" font-size="14" font-weight="bold">${escapeXml(options.title)}</text>`,
  ];

  columnLabels.forEach((label, c) => {
    parts.push(`<text x="${labelWidth + c * CELL_WIDTH + CELL_WIDTH / 2}" y="${top - 8}" ${FONT} text-anchor="middle">${escapeXml(label)}</text>`);
  });
  rowLabels.forEach((label, r) => {
    const y = top + r * CELL_HEIGHT;
    parts.push(`<text x="${labelWidth - 8}" y="${y + CELL_HEIGHT / 2 + 4}" ${FONT} text-anchor="end">${escapeXml(label)}</text>`);
    values[r].forEach((value, c) => {
      const x = labelWidth + c * CELL_WIDTH;
      // Dark cells get white text so that the label stays readable.
      const textColor = value > 0.55 ? '#ffffff' : '#000000';
      parts.push(`<rect x="${x}" y="${y}" width="${CELL_WIDTH}" height="${CELL_HEIGHT}" fill="${heatColor(value)}" stroke="#ffffff"/>`);
      parts.push(`<text x="${x + CELL_WIDTH / 2}" y="${y + CELL_HEIGHT / 2 + 4}" ${FONT} text-anchor="middle" fill="${textColor}">${Number.isFinite(value) ? value.toFixed(2) : 'n/a'}</text>`);
    });
  });

  // The color scale: a gradient from 0 to 1 with its end values and caption.
  const scaleWidth = 200;
  parts.push(
    '<defs><linearGradient id="scale" x1="0" x2="1" y1="0" y2="0">',
    `<stop offset="0" stop-color="${heatColor(0)}"/><stop offset="1" stop-color="${heatColor(1)}"/>`,
    '</linearGradient></defs>',
    `<rect x="${labelWidth}" y="${scaleTop}" width="${scaleWidth}" height="12" fill="url(#scale)" stroke="#888888"/>`,
    `<text x="${labelWidth}" y="${scaleTop + 28}" ${FONT} text-anchor="start">0</text>`,
    `<text x="${labelWidth + scaleWidth}" y="${scaleTop + 28}" ${FONT} text-anchor="end">1</text>`,
  );
  if (options.scaleLabel) parts.push(`<text x="${labelWidth + scaleWidth / 2}" y="${scaleTop + 28}" ${FONT} text-anchor="middle">${escapeXml(options.scaleLabel)}</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** Writes the heatmap to `path` atomically (a temporary file, then a rename). */
export function writeHeatmap(path: string, options: HeatmapOptions): void {
  const bytes = new TextEncoder().encode(heatmapSvg(options));
  writeFileAtomic(path, (fd) => writeAll(fd, bytes));
}
