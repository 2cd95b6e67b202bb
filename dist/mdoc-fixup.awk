# Post-processes the mdoc page swift-argument-parser's generate-manual writes, where a
# command's discussion is copied as it is: a blank line becomes a paragraph break (.Pp), and
# lines indented by two spaces (the examples in `veil --help`) become a literal display, so
# that man neither warns nor breaks a command line across lines.
function close_display() { if (display) { print ".Ed"; display = 0 } }
/^  [^ ]/ {
    if (!display) { print ".Bd -literal -offset indent"; display = 1 }
    sub(/^  /, "")
    print
    next
}
/^$/ { close_display(); pending_pp = 1; next }
{
    close_display()
    if (pending_pp) { print ".Pp"; pending_pp = 0 }
    print
}
END { close_display() }
