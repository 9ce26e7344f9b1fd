# make-logos.R: draws the ripple kernel logo (a white "R" on a blue drop, with two ripple arcs spreading
# from it to the upper right) with base R graphics only, and writes logo-32x32.png, logo-64x64.png and
# logo-svg.svg next to this script.
# Run from anywhere: Rscript share/kernelspec/make-logos.R
# The "R" is drawn as geometry, not text, so the logos do not depend on the fonts of the machine.

script_dir <- function() {
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(file_arg) == 1) dirname(normalizePath(sub("^--file=", "", file_arg))) else getwd()
}

palette_ripple <- list(
  drop = "#1565C0",      # deep blue disc behind the letter
  inner_arc = "#1E88E5", # first ripple
  outer_arc = "#64B5F6", # second, fainter ripple
  letter = "#FFFFFF"
)

# Geometry in a unit square; the drop sits low and left so the ripples have room to the upper right.
centre <- c(0.36, 0.36)
drop_radius <- 0.31
ripples <- list(
  list(inner = 0.405, outer = 0.48, colour = palette_ripple$inner_arc),
  list(inner = 0.54, outer = 0.61, colour = palette_ripple$outer_arc)
)
ripple_span <- c(-12, 102) # degrees, counter-clockwise from east

# Points of a circular arc (angles in degrees, counter-clockwise from east).
arc_points <- function(cx, cy, radius, from, to, steps = 96) {
  angles <- seq(from, to, length.out = steps) * pi / 180
  list(x = cx + radius * cos(angles), y = cy + radius * sin(angles))
}

# A band between two radii over an angular span, centred on the drop.
draw_ripple <- function(inner, outer, colour) {
  outside <- arc_points(centre[1], centre[2], outer, ripple_span[1], ripple_span[2])
  inside <- arc_points(centre[1], centre[2], inner, ripple_span[2], ripple_span[1])
  polygon(c(outside$x, inside$x), c(outside$y, inside$y), col = colour, border = NA)
}

draw_disc <- function(radius, colour) {
  edge <- arc_points(centre[1], centre[2], radius, 0, 360)
  polygon(edge$x, edge$y, col = colour, border = NA)
}

# A sans-serif capital R: a stem, a bowl (a D-shaped loop) and a diagonal leg, all with one stroke width.
# Designed around (0.5, 0.5) for a drop of radius 0.305, then moved and scaled onto the actual drop.
draw_letter_r <- function(colour) {
  scale <- drop_radius / 0.305
  place_x <- function(x) centre[1] + (x - 0.5) * scale
  place_y <- function(y) centre[2] + (y - 0.5) * scale
  polygon <- function(x, y, ...) graphics::polygon(place_x(x), place_y(y), ...)
  polypath <- function(x, y, ...) graphics::polypath(place_x(x), place_y(y), ...)

  stroke <- 0.064
  bottom <- 0.335
  top <- 0.665
  waist <- 0.485                        # bottom edge of the bowl
  bowl_radius <- (top - waist) / 2      # outer radius of the bowl's round side
  left <- 0.405
  bowl_centre_x <- 0.535
  bowl_centre_y <- (top + waist) / 2

  # stem
  polygon(c(left, left + stroke, left + stroke, left), c(bottom, bottom, top, top), col = colour, border = NA)

  # bowl: outer outline, then the counter as a hole
  outer <- arc_points(bowl_centre_x, bowl_centre_y, bowl_radius, 90, -90)
  inner <- arc_points(bowl_centre_x, bowl_centre_y, bowl_radius - stroke, -90, 90)
  bowl_x <- c(left, outer$x, left, NA, left + stroke, bowl_centre_x, inner$x, bowl_centre_x, left + stroke)
  bowl_y <- c(top, outer$y, waist, NA, waist + stroke, waist + stroke, inner$y, top - stroke, top - stroke)
  polypath(bowl_x, bowl_y, col = colour, border = NA, rule = "evenodd")

  # leg: from under the bowl down to the baseline, its horizontal width chosen so it looks as thick as the stem
  leg_start <- bowl_centre_x - 0.035
  leg_end <- bowl_centre_x + bowl_radius + 0.005
  slope_angle <- atan2(waist + stroke / 2 - bottom, leg_end - leg_start)
  leg_width <- stroke / sin(slope_angle)
  polygon(c(leg_start, leg_start + leg_width, leg_end, leg_end - leg_width),
          c(waist + stroke / 2, waist + stroke / 2, bottom, bottom),
          col = colour, border = NA)
}

draw_logo <- function() {
  op <- par(mar = c(0, 0, 0, 0), xaxs = "i", yaxs = "i")
  on.exit(par(op))
  plot.new()
  plot.window(xlim = c(0, 1), ylim = c(0, 1))
  for (ripple in ripples) draw_ripple(ripple$inner, ripple$outer, ripple$colour)
  draw_disc(drop_radius, palette_ripple$drop)
  draw_letter_r(palette_ripple$letter)
}

write_png <- function(path, pixels) {
  png(path, width = pixels, height = pixels, units = "px", bg = "transparent", type = "cairo", antialias = "default")
  draw_logo()
  invisible(dev.off())
}

write_svg <- function(path) {
  svg(path, width = 64 / 72, height = 64 / 72, bg = "transparent", antialias = "default")
  draw_logo()
  invisible(dev.off())
}

# Writes the three logos when run with Rscript (an optional argument names another output directory);
# source()-ing the file only defines the drawing functions, e.g. to preview draw_logo() at any size.
if (sys.nframe() == 0L) {
  out_dir <- script_dir()
  args <- commandArgs(trailingOnly = TRUE)
  if (length(args) >= 1) out_dir <- args[[1]]
  write_png(file.path(out_dir, "logo-32x32.png"), 32)
  write_png(file.path(out_dir, "logo-64x64.png"), 64)
  write_svg(file.path(out_dir, "logo-svg.svg"))
  cat("wrote logo-32x32.png, logo-64x64.png, logo-svg.svg to", out_dir, "\n")
}
