//! nginx's configuration tokenizer, statement by statement, as `ngx_conf_read_token` reads it.
//!
//! Faithful where it changes meaning: a `#` starts a comment only at the start of a word, quotes
//! only at the start of a word, a backslash protects the next character everywhere, `${` inside a
//! word does not open a block and `}` inside a word is just a character. Errors use nginx's own
//! wording so the message reads like `nginx -t`'s.

/// How a statement ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// `;`
    Semicolon,
    /// `{`: a block body follows.
    BlockOpen,
    /// `}` (with no words before it).
    BlockClose,
    /// End of the input (with no words pending).
    Eof,
}

/// A word and the line it started on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Word {
    pub(crate) text: String,
    pub(crate) line: u32,
    /// Written in quotes (`""` is an empty argument, not nothing).
    pub(crate) quoted: bool,
}

/// One statement: its words and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Statement {
    pub(crate) words: Vec<Word>,
    pub(crate) end: End,
    /// The line of the terminating `;`, `{` or `}` (where nginx reports errors).
    pub(crate) end_line: u32,
}

/// A tokenizer error: the line and nginx's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LexError {
    pub(crate) line: u32,
    pub(crate) message: String,
}

/// Reads statements from one file's bytes.
pub(crate) struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: u32,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `src`.
    pub(crate) fn new(src: &'a [u8]) -> Lexer<'a> {
        Lexer {
            src,
            pos: 0,
            line: 1,
        }
    }

    /// The current line.
    pub(crate) fn line(&self) -> u32 {
        self.line
    }

    fn err<T>(&self, message: String) -> Result<T, LexError> {
        Err(LexError {
            line: self.line,
            message,
        })
    }

    /// The next statement.
    pub(crate) fn next_statement(&mut self) -> Result<Statement, LexError> {
        let mut words: Vec<Word> = Vec::new();
        loop {
            // Between words: skip space and comments; handle the structural characters.
            let Some(&ch) = self.src.get(self.pos) else {
                if !words.is_empty() {
                    return self.err("unexpected end of file, expecting \";\" or \"}\"".into());
                }
                return Ok(Statement {
                    words,
                    end: End::Eof,
                    end_line: self.line,
                });
            };
            if is_space(ch) {
                if ch == b'\n' {
                    self.line += 1;
                }
                self.pos += 1;
                continue;
            }
            match ch {
                b';' | b'{' => {
                    if words.is_empty() {
                        return self.err(format!("unexpected \"{}\"", ch as char));
                    }
                    self.pos += 1;
                    return Ok(Statement {
                        words,
                        end: if ch == b';' {
                            End::Semicolon
                        } else {
                            End::BlockOpen
                        },
                        end_line: self.line,
                    });
                }
                b'}' => {
                    if !words.is_empty() {
                        return self.err("unexpected \"}\"".into());
                    }
                    self.pos += 1;
                    return Ok(Statement {
                        words,
                        end: End::BlockClose,
                        end_line: self.line,
                    });
                }
                b'#' => {
                    self.skip_to_newline();
                    continue;
                }
                _ => {}
            }
            let line = self.line;
            let (word, quoted) = self.word()?;
            words.push(Word {
                text: word,
                line,
                quoted,
            });
            // After a word: a quoted word must be followed by space, `;`, `{` or `)`.
            if quoted {
                match self.src.get(self.pos) {
                    None => {}
                    Some(&c) if is_space(c) || c == b';' || c == b'{' => {}
                    Some(b')') => self.pos += 1,
                    Some(&c) => return self.err(format!("unexpected \"{}\"", c as char)),
                }
            }
        }
    }

    /// Reads one word starting at `pos` (not a space or structural character); returns its
    /// unescaped text and whether it was quoted. Leaves `pos` on the character that ended it (or
    /// after the closing quote).
    fn word(&mut self) -> Result<(String, bool), LexError> {
        let quote = match self.src[self.pos] {
            q @ (b'"' | b'\'') => {
                self.pos += 1;
                Some(q)
            }
            _ => None,
        };
        let start = self.pos;
        let mut variable = false;
        loop {
            let Some(&ch) = self.src.get(self.pos) else {
                return self.err("unexpected end of file, expecting \";\" or \"}\"".into());
            };
            if ch == b'{' && variable {
                self.pos += 1;
                continue;
            }
            variable = false;
            if ch == b'\\' {
                // The next character is taken as it is (a newline still counts as a line).
                if self.src.get(self.pos + 1) == Some(&b'\n') {
                    self.line += 1;
                }
                self.pos += 2;
                continue;
            }
            if ch == b'$' {
                variable = true;
                self.pos += 1;
                continue;
            }
            match quote {
                Some(q) if ch == q => {
                    let text = unescape(&self.src[start..self.pos]);
                    self.pos += 1;
                    return Ok((text, true));
                }
                Some(_) => {}
                None if is_space(ch) || ch == b';' || ch == b'{' => {
                    return Ok((unescape(&self.src[start..self.pos]), false));
                }
                None => {}
            }
            if ch == b'\n' {
                self.line += 1;
            }
            self.pos += 1;
        }
    }

    /// Skips an opaque block body (`*_by_lua_block { ... }`) up to its closing brace, reading
    /// Lua's strings, long brackets and comments so braces inside them do not count. Returns the
    /// body's text.
    pub(crate) fn opaque_block(&mut self) -> Result<String, LexError> {
        let start = self.pos;
        let mut depth = 1usize;
        while let Some(&ch) = self.src.get(self.pos) {
            match ch {
                b'\n' => self.line += 1,
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        let body = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
                        self.pos += 1;
                        return Ok(body);
                    }
                }
                b'"' | b'\'' => {
                    self.pos += 1;
                    while let Some(&c) = self.src.get(self.pos) {
                        if c == b'\\' {
                            self.pos += 1;
                        } else if c == ch {
                            break;
                        } else if c == b'\n' {
                            self.line += 1;
                        }
                        self.pos += 1;
                    }
                }
                b'[' if self.long_bracket().is_some() => {
                    let level = self.long_bracket().unwrap_or(0);
                    self.skip_long_bracket(level);
                    continue;
                }
                b'-' if self.src.get(self.pos + 1) == Some(&b'-') => {
                    self.pos += 2;
                    if let Some(level) = self.long_bracket() {
                        self.skip_long_bracket(level);
                        continue;
                    }
                    self.skip_to_newline();
                    continue;
                }
                _ => {}
            }
            self.pos += 1;
        }
        self.err("unexpected end of file, expecting \"}\"".into())
    }

    /// Skips a comment up to (not over) its newline, which the caller counts as a line.
    fn skip_to_newline(&mut self) {
        self.pos =
            memchr::memchr(b'\n', &self.src[self.pos..]).map_or(self.src.len(), |i| self.pos + i);
    }

    /// At `[`: the level of a Lua long bracket opening here (`[[` is 0, `[==[` is 2).
    fn long_bracket(&self) -> Option<usize> {
        let rest = &self.src[self.pos..];
        if rest.first() != Some(&b'[') {
            return None;
        }
        let eq = rest[1..].iter().take_while(|&&b| b == b'=').count();
        (rest.get(1 + eq) == Some(&b'[')).then_some(eq)
    }

    fn skip_long_bracket(&mut self, level: usize) {
        self.pos += level + 2;
        while let Some(&c) = self.src.get(self.pos) {
            if c == b'\n' {
                self.line += 1;
            }
            if c == b']' {
                let rest = &self.src[self.pos + 1..];
                let eq = rest.iter().take_while(|&&b| b == b'=').count();
                if eq == level && rest.get(eq) == Some(&b']') {
                    self.pos += level + 2;
                    return;
                }
            }
            self.pos += 1;
        }
    }
}

/// nginx's unescaping of a word: `\"`, `\'` and `\\` lose the backslash, `\t`, `\r`, `\n` become
/// the control characters, any other backslash stays.
fn unescape(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' {
            match raw.get(i + 1) {
                Some(&c @ (b'"' | b'\'' | b'\\')) => {
                    out.push(c);
                    i += 2;
                    continue;
                }
                Some(b't') => {
                    out.push(b'\t');
                    i += 2;
                    continue;
                }
                Some(b'r') => {
                    out.push(b'\r');
                    i += 2;
                    continue;
                }
                Some(b'n') => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(src: &str) -> Result<Vec<(Vec<String>, End, u32)>, LexError> {
        let mut lx = Lexer::new(src.as_bytes());
        let mut out = Vec::new();
        loop {
            let st = lx.next_statement()?;
            let end = st.end;
            out.push((
                st.words.into_iter().map(|w| w.text).collect(),
                end,
                st.end_line,
            ));
            if end == End::Eof {
                return Ok(out);
            }
        }
    }

    fn words(src: &str) -> Vec<Vec<String>> {
        all(src)
            .expect("lexes")
            .into_iter()
            .map(|(w, _, _)| w)
            .filter(|w| !w.is_empty())
            .collect()
    }

    #[test]
    fn quotes_comments_variables() {
        assert_eq!(
            words("a 'b c' \"d;e{f}\" # x ; y\n g#h ${i}j;"),
            vec![vec!["a", "b c", "d;e{f}", "g#h", "${i}j"]]
        );
        assert_eq!(
            words(r#"log 'it\'s' "q\"q" \; t\x;"#),
            vec![vec!["log", "it's", "q\"q", "\\;", "t\\x"]]
        );
        assert_eq!(words("map $a $b { '' close; }")[1], vec!["", "close"]);
    }

    #[test]
    fn blocks_and_lines() {
        let st = all("http {\n  server {\n  }\n}\n").expect("lexes");
        assert_eq!(st[0], (vec!["http".to_string()], End::BlockOpen, 1));
        assert_eq!(st[1], (vec!["server".to_string()], End::BlockOpen, 2));
        assert_eq!(st[2].1, End::BlockClose);
        assert_eq!(st[2].2, 3);
        assert_eq!(st[4].1, End::Eof);
    }

    #[test]
    fn nginx_errors() {
        let e = all("location / { proxy_pass http://x }").unwrap_err();
        assert_eq!(e.message, "unexpected \"}\"");
        let e = all("a b").unwrap_err();
        assert_eq!(
            e.message,
            "unexpected end of file, expecting \";\" or \"}\""
        );
        let e = all("a \"b\"c;").unwrap_err();
        assert_eq!(e.message, "unexpected \"c\"");
        let e = all("\n\n;").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (3, "unexpected \";\""));
        assert!(all("a 'open;\n").is_err());
    }

    #[test]
    fn lua_block_is_opaque() {
        let src = "content_by_lua_block { local t = {a = '}'} -- }\n ngx.say([[}]]) }\nnext;";
        let mut lx = Lexer::new(src.as_bytes());
        let st = lx.next_statement().expect("statement");
        assert_eq!(st.end, End::BlockOpen);
        let body = lx.opaque_block().expect("body");
        assert!(body.contains("ngx.say"));
        let st = lx.next_statement().expect("next");
        assert_eq!(st.words[0].text, "next");
        assert_eq!(st.end_line, 3);
    }
}
