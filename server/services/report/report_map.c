/* report_map.c — the report renderer's map (report_html.h): points placed by latitude and
 * longitude on an SVG drawn from their own bounding box, coloured by class, with a legend.
 * A district spans a few kilometres, so an equirectangular projection scaled by the cosine
 * of the middle latitude keeps distances true enough to read. */
#include <math.h>

#include "report_html.h"

#define MAP_W 760.0
#define MAP_H 460.0
#define MAP_PAD 28.0
#define LEGEND_H 26.0

void report_svg_map(report_doc *d, const report_map *m)
{
    if (m->n == 0) {
        report_puts(d, "<p class=\"meta\">&mdash;</p>\n");
        return;
    }
    double lat0 = m->points[0].lat, lat1 = lat0, lon0 = m->points[0].lon, lon1 = lon0;
    for (int i = 1; i < m->n; i++) {
        lat0 = fmin(lat0, m->points[i].lat);
        lat1 = fmax(lat1, m->points[i].lat);
        lon0 = fmin(lon0, m->points[i].lon);
        lon1 = fmax(lon1, m->points[i].lon);
    }
    double k = cos((lat0 + lat1) / 2 * M_PI / 180); /* a degree of longitude is shorter */
    double w = fmax((lon1 - lon0) * k, 1e-6), h = fmax(lat1 - lat0, 1e-6);
    double scale = fmin((MAP_W - 2 * MAP_PAD) / w, (MAP_H - 2 * MAP_PAD) / h);
    double ox = (MAP_W - w * scale) / 2, oy = (MAP_H - h * scale) / 2;

    report_printf(d,
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"map\" width=\"%.0f\" "
                  "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"",
                  MAP_W, MAP_H + LEGEND_H, MAP_W, MAP_H + LEGEND_H);
    report_esc(d, m->aria_label);
    report_printf(d,
                  "\"><rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#f6f8fa\" "
                  "stroke=\"#ccc\"/>\n",
                  MAP_W, MAP_H);
    for (int i = 0; i < m->n; i++) {
        const report_map_point *p = &m->points[i];
        double x = ox + (p->lon - lon0) * k * scale, y = oy + (lat1 - p->lat) * scale;
        const char *color =
            p->cls >= 0 && p->cls < m->n_classes ? m->classes[p->cls].color : "#999";
        report_printf(d,
                      "<g class=\"site\"><circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"%s\" "
                      "stroke=\"#333\" stroke-width=\"0.6\" data-code=\"",
                      x, y, color);
        report_esc(d, p->code);
        report_puts(d, "\"><title>");
        report_esc(d, p->tooltip);
        report_printf(d,
                      "</title></circle><text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" fill=\"#333\">",
                      x + 8, y + 3);
        report_esc(d, p->code);
        report_puts(d, "</text></g>\n");
    }
    double x = 8;
    for (int c = 0; c < m->n_classes; c++) {
        report_printf(d,
                      "<circle cx=\"%.0f\" cy=\"%.0f\" r=\"6\" fill=\"%s\" stroke=\"#333\" "
                      "stroke-width=\"0.6\"/><text x=\"%.0f\" y=\"%.0f\" font-size=\"12\">",
                      x + 6, MAP_H + 14, m->classes[c].color, x + 16, MAP_H + 18);
        report_esc(d, m->classes[c].name);
        report_puts(d, "</text>\n");
        x += 150;
    }
    report_puts(d, "</svg>\n");
}
