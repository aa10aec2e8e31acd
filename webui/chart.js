// A small line chart (SVG, no library): the last values of one series, scaled to its maximum.

export function lineChart(values, { width = 320, height = 70, label = '', format = (v) => String(v) } = {}) {
  const max = Math.max(1e-9, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 4 - (v / max) * (height - 8)).toFixed(1)}`).join(' ');
  const last = values.length ? format(values[values.length - 1]) : '–';
  return `<figure class="chart-box"><figcaption>${label}: <b>${last}</b> <span class="muted">(max ${format(max)})</span></figcaption>
<svg class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${label}"><polyline points="${points}"/></svg></figure>`;
}
