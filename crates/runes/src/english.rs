//! `showrunes`' English: one phrase per alternative, ` OR ` within a restriction,
//! ` AND ` between restrictions; fields and values verbatim (unescaped, unquoted).

use crate::restriction::{Alternative, Condition, Restriction};

impl Alternative {
    pub fn english(&self) -> String {
        let (f, v) = (&self.field, &self.value);
        let words = match self.condition {
            Condition::Missing => return format!("{f} is missing"),
            Condition::Comment => return format!("comment: {f} {v}"),
            Condition::Equal => "equal to",
            Condition::NotEqual => "unequal to",
            Condition::BeginsWith => "starts with",
            Condition::EndsWith => "ends with",
            Condition::Contains => "contains",
            Condition::IntLess => "<",
            Condition::IntGreater => ">",
            Condition::SortsBefore => "sorts before",
            Condition::SortsAfter => "sorts after",
        };
        format!("{f} {words} {v}")
    }
}

impl Restriction {
    pub fn english(&self) -> String {
        let words: Vec<String> = self.alternatives.iter().map(|a| a.english()).collect();
        words.join(" OR ")
    }
}

#[cfg(test)]
mod tests {
    use crate::restriction::parse_text;

    #[test]
    fn english_as_showrunes_words_it() {
        let r = parse_text("method=getinfo|method=listpeers&pnum<2&x!&c#hi&a/b&s{t").unwrap();
        let words: Vec<String> = r.iter().map(|r| r.english()).collect();
        assert_eq!(
            words.join(" AND "),
            "method equal to getinfo OR method equal to listpeers AND pnum < 2 AND x is missing \
             AND comment: c hi AND a unequal to b AND s sorts before t"
        );
    }
}
