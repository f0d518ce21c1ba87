//! The request-level `filter` member (CLN's `lightning-cli -l`): keeps only the result
//! fields the filter names. `true` keeps a member whole, an object recurses, and an array
//! holding one filter applies it to every element. Applied to builtin results only; plugin
//! results are forwarded untouched (plugins apply filters themselves, as in CLN).

use serde_json::{Map, Value};

/// Applies `filter` to `value`. Filter parts of other shapes keep the member as is.
pub fn apply(value: Value, filter: &Value) -> Value {
    match (value, filter) {
        (Value::Object(obj), Value::Object(f)) => {
            let mut out = Map::new();
            for (k, v) in obj {
                if let Some(sub) = f.get(&k) {
                    match sub {
                        Value::Bool(true) => {
                            out.insert(k, v);
                        }
                        Value::Bool(false) => {}
                        _ => {
                            out.insert(k, apply(v, sub));
                        }
                    }
                }
            }
            Value::Object(out)
        }
        (Value::Array(items), Value::Array(f)) => match f.first() {
            Some(sub) => Value::Array(items.into_iter().map(|i| apply(i, sub)).collect()),
            None => Value::Array(items),
        },
        (v, _) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_only_named_members_recursively() {
        let v = json!({"id": "x", "alias": "a", "our_features": {"init": "1", "node": "2"},
                       "help": [{"command": "a", "x": 1}, {"command": "b"}]});
        let f = json!({"id": true, "our_features": {"node": true}, "help": [{"command": true}]});
        assert_eq!(
            apply(v, &f),
            json!({"id": "x", "our_features": {"node": "2"}, "help": [{"command": "a"}, {"command": "b"}]})
        );
    }
}
