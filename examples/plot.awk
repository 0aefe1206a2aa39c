#!/usr/bin/awk -f
# examples/plot.awk — an SVG line chart of columns of a TSV history, in awk.
#
#   awk -f plot.awk -v cols=ppl,acc [-v title=T] history.tsv > history.svg
#
# The first line of the TSV names the columns; the first column labels the x
# axis (dates); each column in `cols` gets a panel of its own, stacked, with
# one point per row in file order, its minimum, maximum and last value
# marked.  Values that are not numbers ("-", empty) leave a gap.
BEGIN {
	FS = "\t"
	if (cols == "") cols = "ppl"
	W = 640; H = 180; L = 70; R = 20; T = 30; B = 34   # panel size and margins
}
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); return s }
function isnum(s) { return s ~ /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/ }
NR == 1 { for (i = 1; i <= NF; i++) idx[$i] = i; next }
NF > 0 { n++; x[n] = $1; for (i = 1; i <= NF; i++) v[n, i] = $i }
END {
	np = split(cols, c, ",")
	for (p = 1; p <= np; p++)
		if (!(c[p] in idx)) { printf "plot.awk: no column '%s'\n", c[p] > "/dev/stderr"; exit 1 }
	printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">\n", W, np * H + (title != "" ? 24 : 0)
	y0 = 0
	if (title != "") { printf "<text x=\"%d\" y=\"17\" font-size=\"14\">%s</text>\n", L, esc(title); y0 = 24 }
	for (p = 1; p <= np; p++) panel(c[p], idx[c[p]], y0 + (p - 1) * H)
	print "</svg>"
}
function panel(name, col, top,    i, lo, hi, k, px, py, pts, first, sx, sy, pw, ph, last) {
	pw = W - L - R; ph = H - T - B
	k = 0
	for (i = 1; i <= n; i++) if (isnum(v[i, col])) {
		val = v[i, col] + 0
		if (!k || val < lo) lo = val
		if (!k || val > hi) hi = val
		k++; last = i
	}
	printf "<g transform=\"translate(0,%d)\">\n", top
	printf "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">%s</text>\n", L, T - 10, esc(name)
	printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>\n", L, T, pw, ph
	if (!k) { printf "<text x=\"%d\" y=\"%d\">no data</text>\n</g>\n", L + 10, T + ph / 2; return }
	if (hi == lo) { hi += 0.5; lo -= 0.5 }
	sx = n > 1 ? pw / (n - 1) : 0
	sy = ph / (hi - lo)
	for (t = 0; t <= 2; t++) {   # y ticks: lo, middle, hi
		val = lo + (hi - lo) * t / 2; py = T + ph - (val - lo) * sy
		printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, py, L + pw, py
		printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n", L - 6, py + 4, val
	}
	printf "<text x=\"%d\" y=\"%d\">%s</text>\n", L, T + ph + 16, esc(x[1])
	if (n > 1) printf "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", L + pw, T + ph + 16, esc(x[n])
	pts = ""; first = 1
	for (i = 1; i <= n; i++) {
		if (!isnum(v[i, col])) {   # a gap ends the current line
			if (pts != "") printf "<polyline fill=\"none\" stroke=\"#1f6fb2\" stroke-width=\"2\" points=\"%s\"/>\n", pts
			pts = ""; continue
		}
		px = L + (n > 1 ? (i - 1) * sx : pw / 2); py = T + ph - (v[i, col] - lo) * sy
		pts = pts sprintf("%s%.1f,%.1f", pts == "" ? "" : " ", px, py)
		printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#1f6fb2\"><title>%s %s</title></circle>\n", px, py, esc(x[i]), esc(v[i, col])
	}
	if (pts != "") printf "<polyline fill=\"none\" stroke=\"#1f6fb2\" stroke-width=\"2\" points=\"%s\"/>\n", pts
	printf "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">last %s</text>\n", L + pw, T - 10, esc(v[last, col])
	print "</g>"
}
