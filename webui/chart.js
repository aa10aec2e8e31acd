// A small line chart (SVG, no library): the last values of one series, from 0 up to a little
// over its maximum (a steady series is a visible flat line, one sample too).

export function lineChart(values, { width = 320, height = 70, label = '', format = (v) => String(v) } = {}) {
  const max = Math.max(0, ...values);
  const top = max > 0 ? max * 1.15 : 1;
  const series = values.length === 1 ? [values[0], values[0]] : values;
  const step = series.length > 1 ? width / (series.length - 1) : width;
  const points = series.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / top) * (height - 4)).toFixed(1)}`).join(' ');
  const last = values.length ? format(values[values.length - 1]) : '–';
  const peak = values.length > 1 && max > 0 ? ` <span class="muted">(max ${format(max)})</span>` : '';
  return `<figure class="chart-box"><figcaption title="${label}">${label}: <b>${last}</b>${peak}</figcaption>
<svg class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${label}"><polyline points="${points}"/></svg></figure>`;
}
