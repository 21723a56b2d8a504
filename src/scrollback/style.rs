//! The scrollback's styles: the compact SGR state ([`Pen`]) that every cell, style run and
//! paging checkpoint carries, what an SGR sequence does to it, and how it becomes a ratatui
//! [`Style`] when a line is drawn.
//!
//! Colours and attributes are kept as a few bytes rather than as a `Style`, so that the parser's
//! cells and the line store's runs stay small.

use ratatui::style::{Color, Modifier, Style};

/// An SGR colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Colour {
    #[default]
    Default,
    Indexed(u8),
    Rgb(u8, u8, u8),
}

impl Colour {
    fn to_color(self) -> Option<Color> {
        const NAMED: [Color; 16] = [
            Color::Black,
            Color::Red,
            Color::Green,
            Color::Yellow,
            Color::Blue,
            Color::Magenta,
            Color::Cyan,
            Color::Gray,
            Color::DarkGray,
            Color::LightRed,
            Color::LightGreen,
            Color::LightYellow,
            Color::LightBlue,
            Color::LightMagenta,
            Color::LightCyan,
            Color::White,
        ];
        match self {
            Self::Default => None,
            Self::Indexed(n) => Some(
                NAMED
                    .get(usize::from(n))
                    .copied()
                    .unwrap_or(Color::Indexed(n)),
            ),
            Self::Rgb(r, g, b) => Some(Color::Rgb(r, g, b)),
        }
    }
}

const BOLD: u8 = 1;
const DIM: u8 = 2;
const ITALIC: u8 = 4;
const UNDERLINE: u8 = 8;
const REVERSE: u8 = 16;
const CROSSED: u8 = 32;

/// The current SGR state, compact so that cells, runs and checkpoints stay small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Pen {
    pub(super) fg: Colour,
    pub(super) bg: Colour,
    pub(super) attrs: u8,
}

impl Pen {
    pub(super) const MARKER: Self = Self {
        fg: Colour::Default,
        bg: Colour::Default,
        attrs: DIM,
    };

    pub(super) fn style(self) -> Style {
        let mut style = Style::default();
        if let Some(fg) = self.fg.to_color() {
            style = style.fg(fg);
        }
        if let Some(bg) = self.bg.to_color() {
            style = style.bg(bg);
        }
        let mut modifier = Modifier::empty();
        for (bit, m) in [
            (BOLD, Modifier::BOLD),
            (DIM, Modifier::DIM),
            (ITALIC, Modifier::ITALIC),
            (UNDERLINE, Modifier::UNDERLINED),
            (REVERSE, Modifier::REVERSED),
            (CROSSED, Modifier::CROSSED_OUT),
        ] {
            if self.attrs & bit != 0 {
                modifier |= m;
            }
        }
        if modifier.is_empty() {
            style
        } else {
            style.add_modifier(modifier)
        }
    }

    /// Applies one SGR sequence; bit `i` of `colon` says parameter `i` followed a `:`.
    pub(super) fn apply_sgr(&mut self, params: &[u16], colon: u32) {
        if params.is_empty() {
            *self = Self::default();
            return;
        }
        let mut i = 0;
        while let Some(&p) = params.get(i) {
            let mut end = i + 1;
            while end < params.len() && colon & (1 << end) != 0 {
                end += 1;
            }
            let sub = params.get(i + 1..end).unwrap_or_default();
            match p {
                0 => *self = Self::default(),
                1 => self.attrs |= BOLD,
                2 => self.attrs |= DIM,
                3 => self.attrs |= ITALIC,
                4 if sub.first() == Some(&0) => self.attrs &= !UNDERLINE,
                4 => self.attrs |= UNDERLINE,
                7 => self.attrs |= REVERSE,
                9 => self.attrs |= CROSSED,
                22 => self.attrs &= !(BOLD | DIM),
                23 => self.attrs &= !ITALIC,
                24 => self.attrs &= !UNDERLINE,
                27 => self.attrs &= !REVERSE,
                29 => self.attrs &= !CROSSED,
                30..=37 => self.fg = Colour::Indexed((p - 30) as u8),
                39 => self.fg = Colour::Default,
                40..=47 => self.bg = Colour::Indexed((p - 40) as u8),
                49 => self.bg = Colour::Default,
                90..=97 => self.fg = Colour::Indexed((p - 90 + 8) as u8),
                100..=107 => self.bg = Colour::Indexed((p - 100 + 8) as u8),
                38 | 48 => {
                    let colour = if sub.is_empty() {
                        // The `38;5;n` / `38;2;r;g;b` form takes the following parameters.
                        let rest = params.get(end..).unwrap_or_default();
                        let (colour, used) = extended_colour(rest, false);
                        end += used;
                        colour
                    } else {
                        extended_colour(sub, true).0
                    };
                    if let Some(colour) = colour {
                        if p == 38 {
                            self.fg = colour;
                        } else {
                            self.bg = colour;
                        }
                    }
                }
                _ => {}
            }
            i = end;
        }
    }
}

/// Parses `5;n` or `2;r;g;b` (or their `:` forms, where `2` may carry a colour-space id first).
/// Returns the colour and how many parameters it used.
fn extended_colour(rest: &[u16], colon_form: bool) -> (Option<Colour>, usize) {
    let byte = |v: u16| v.min(255) as u8;
    match rest {
        [5, n, ..] => (Some(Colour::Indexed(byte(*n))), 2),
        [2, _, r, g, b, ..] if colon_form => (Some(Colour::Rgb(byte(*r), byte(*g), byte(*b))), 5),
        [2, r, g, b, ..] => (Some(Colour::Rgb(byte(*r), byte(*g), byte(*b))), 4),
        [_, ..] => (None, rest.len()),
        [] => (None, 0),
    }
}
