//! `js_value` (the widget's stand-in for serde-wasm-bindgen) in headless Chromium: values to JS and back, JSON text
//! as the server sends it read through `JSON.parse`, and every edge the conversion decides — integers JS cannot
//! hold exactly, `null` / `undefined` / a missing field, unicode, empty arrays and objects, and a value of the
//! wrong type, which comes back as `None` (the conversion's only error: no message is ever built).
//! `cargo test -p plugboard-widget --target wasm32-unknown-unknown`.
#![cfg(target_arch = "wasm32")]

use std::collections::BTreeMap;

use js_sys::{Array, Object, Reflect, JSON};
use plugboard_shared::{AuthMethod, IntegrationRow, TokenResponse};
use plugboard_widget::js_value::{from_value, preserve, to_json, to_value};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// `text` as the server's answers reach the widget: through `JSON.parse`.
fn parse(text: &str) -> JsValue {
    JSON::parse(text).unwrap_or_else(|e| panic!("not JSON: {text}: {e:?}"))
}

fn stringify(value: &JsValue) -> String {
    JSON::stringify(value).unwrap().as_string().unwrap()
}

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Mood {
    Calm,
    RatherBusy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inner {
    label: String,
    weights: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Everything {
    text: String,
    letter: char,
    yes: bool,
    small: u8,
    negative: i32,
    largest_exact: u64,
    most_negative_exact: i64,
    fraction: f64,
    nothing: Option<String>,
    something: Option<String>,
    empty_list: Vec<u32>,
    nested: Vec<Inner>,
    grid: Vec<Vec<i16>>,
    empty_map: BTreeMap<String, String>,
    map: BTreeMap<String, Inner>,
    mood: Mood,
    other_mood: Mood,
    unit: (),
}

fn everything() -> Everything {
    Everything {
        text: "Zoë says «hi» — 日本語, 🚀 and a \"quote\"\n\ttoo".into(),
        letter: 'ß',
        yes: true,
        small: 255,
        negative: i32::MIN,
        largest_exact: 9_007_199_254_740_991,
        most_negative_exact: -9_007_199_254_740_991,
        fraction: -0.125,
        nothing: None,
        something: Some(String::new()),
        empty_list: vec![],
        nested: vec![Inner { label: "a".into(), weights: vec![1.5, 2.0, 1e300] }, Inner { label: "".into(), weights: vec![] }],
        grid: vec![vec![], vec![-1, 0, 1]],
        empty_map: BTreeMap::new(),
        map: BTreeMap::from([("ключ 🗝".into(), Inner { label: "v".into(), weights: vec![0.0] })]),
        mood: Mood::Calm,
        other_mood: Mood::RatherBusy,
        unit: (),
    }
}

#[wasm_bindgen_test]
fn a_nested_value_goes_to_js_and_back_unchanged() {
    let value = everything();
    let js = to_value(&value).expect("converts");
    assert_eq!(from_value::<Everything>(js.clone()), Some(value.clone()));
    // And through JSON text, as a request body leaves and an answer arrives.
    let text = to_json(&value).expect("JSON text");
    assert_eq!(from_value::<Everything>(parse(&text)), Some(value));
}

#[wasm_bindgen_test]
fn to_value_builds_plain_objects_arrays_and_names() {
    let js = to_value(&everything()).unwrap();
    assert!(js.is_object() && !Array::is_array(&js), "a struct is a plain object");
    assert_eq!(get(&js, "largestExact").as_f64(), Some(9_007_199_254_740_991.0), "field names as serde renames them");
    assert!(get(&js, "largest_exact").is_undefined());
    assert_eq!(get(&js, "text").as_string().as_deref(), Some("Zoë says «hi» — 日本語, 🚀 and a \"quote\"\n\ttoo"));
    assert_eq!(get(&js, "letter").as_string().as_deref(), Some("ß"), "a char is a one-letter string");
    assert!(get(&js, "nothing").is_null(), "None is null, not undefined");
    assert!(Reflect::has(js.unchecked_ref(), &"nothing".into()).unwrap(), "and the key is there");
    assert_eq!(get(&js, "something").as_string().as_deref(), Some(""));
    assert!(get(&js, "unit").is_null());
    let empty: Array = get(&js, "emptyList").into();
    assert!(Array::is_array(&empty) && empty.length() == 0, "an empty Vec is []");
    let grid: Array = get(&js, "grid").into();
    assert_eq!(grid.length(), 2);
    assert_eq!(Array::from(&grid.get(1)).get(0).as_f64(), Some(-1.0));
    let empty_map = get(&js, "emptyMap");
    assert!(empty_map.is_object() && !Array::is_array(&empty_map) && Object::keys(empty_map.unchecked_ref::<Object>()).length() == 0, "an empty map is {{}}");
    assert!(get(&get(&js, "map"), "ключ 🗝").is_object(), "map keys are object keys");
    assert_eq!(get(&js, "mood").as_string().as_deref(), Some("calm"), "a unit variant is its name");
    assert_eq!(get(&js, "otherMood").as_string().as_deref(), Some("rather_busy"));
    assert_eq!(get(&js, "negative").as_f64(), Some(f64::from(i32::MIN)));
}

#[wasm_bindgen_test]
fn to_json_writes_fields_in_order_none_as_null_and_maps_as_objects() {
    #[derive(Serialize)]
    struct Body<'a> {
        b: Option<&'a str>,
        a: Vec<Option<u8>>,
        m: BTreeMap<&'a str, bool>,
        e: Vec<u8>,
        s: &'a str,
    }
    let text = to_json(&Body { b: None, a: vec![Some(1), None], m: BTreeMap::from([("x", true)]), e: vec![], s: "é\u{1F680}" }).unwrap();
    assert_eq!(text, r#"{"b":null,"a":[1,null],"m":{"x":true},"e":[],"s":"é🚀"}"#);
    assert_eq!(to_json(&BTreeMap::<String, u8>::new()).as_deref(), Some("{}"));
    assert_eq!(to_json(&Vec::<u8>::new()).as_deref(), Some("[]"));
    assert_eq!(to_json("plain").as_deref(), Some(r#""plain""#));
}

#[wasm_bindgen_test]
fn the_servers_answers_read_into_the_wire_types() {
    let js = parse(
        r#"{"token":"pbs_x","expiresAt":"2030-01-01T00:00:00Z","rows":[{"id":1,"connectionDefId":2,"platform":"hubspot",
            "type":"api","title":"HubSpot \u00e9","image":"","category":"CRM","authMethod":"oauth2_client_credentials",
            "environment":"test","tags":[],"active":true,"unknownNewField":{"deep":[1,2]}}],"total":1,"pages":1,"page":1,
            "requestId":"ignored"}"#,
    );
    let session: TokenResponse = from_value(js).expect("a token answer");
    assert_eq!(session.token, "pbs_x");
    assert_eq!(session.rows.len(), 1);
    let row: &IntegrationRow = &session.rows[0];
    assert_eq!((row.kind.as_str(), row.title.as_str(), row.auth_method), ("api", "HubSpot é", AuthMethod::Oauth2ClientCredentials));
    assert_eq!((session.total, session.pages, session.page), (1, 1, 1));
    // What a seed backend forwards: only the token and its expiry; the rest takes its default.
    let bare: TokenResponse = from_value(parse(r#"{"token":"pbs_y","expiresAt":"2030-01-01T00:00:00Z"}"#)).unwrap();
    assert_eq!((bare.rows.len(), bare.total, bare.page), (0, 0, 0));
    // And back: the wire type round-trips.
    assert_eq!(from_value::<TokenResponse>(to_value(&session).unwrap()), Some(session));
}

#[wasm_bindgen_test]
fn integers_beyond_what_js_holds_exactly_do_not_fit() {
    assert_eq!(from_value::<u64>(parse("9007199254740991")), Some(9_007_199_254_740_991));
    assert_eq!(from_value::<i64>(parse("-9007199254740991")), Some(-9_007_199_254_740_991));
    assert_eq!(from_value::<u64>(parse("9007199254740992")), None, "2^53 may already be a rounded value");
    assert_eq!(from_value::<i64>(parse("-9007199254740992")), None);
    assert_eq!(from_value::<u64>(parse("1e300")), None);
    // Each width keeps its own range.
    assert_eq!(from_value::<i32>(parse("2147483647")), Some(i32::MAX));
    assert_eq!(from_value::<i32>(parse("2147483648")), None);
    assert_eq!(from_value::<i32>(parse("-2147483649")), None);
    assert_eq!(from_value::<u32>(parse("4294967296")), None);
    assert_eq!(from_value::<u8>(parse("256")), None);
    assert_eq!(from_value::<u16>(parse("-1")), None, "no negative unsigned");
    assert_eq!(from_value::<u64>(parse("-1")), None);
    assert_eq!(from_value::<i8>(parse("-128")), Some(-128));
    // A fraction is no integer; an integer is a fine float.
    assert_eq!(from_value::<u64>(parse("1.5")), None);
    assert_eq!(from_value::<i64>(parse("-0.5")), None);
    assert_eq!(from_value::<f64>(parse("1.5")), Some(1.5));
    assert_eq!(from_value::<f64>(parse("3")), Some(3.0));
    assert_eq!(from_value::<f32>(parse("0.25")), Some(0.25));
    // Going out, a u64 past 2^53 becomes the nearest double, as JSON.parse would make it.
    assert_eq!(to_value(&9_007_199_254_740_993u64).unwrap().as_f64(), Some(9_007_199_254_740_992.0));
    assert_eq!(to_json(&u64::MAX).as_deref(), Some("18446744073709552000"));
    assert_eq!(to_json(&i64::MIN).as_deref(), Some("-9223372036854776000"));
}

#[derive(Debug, PartialEq, Deserialize)]
struct Optional {
    required: String,
    maybe: Option<u32>,
    #[serde(default = "seven")]
    defaulted: u32,
}

fn seven() -> u32 {
    7
}

#[wasm_bindgen_test]
fn null_undefined_and_missing_differ_as_serde_wasm_bindgen_has_them() {
    let read = |js: &str| from_value::<Optional>(js_sys::eval(&format!("({js})")).unwrap());
    // Missing: an Option is None, a default applies.
    assert_eq!(read(r#"{ required: "r" }"#), Some(Optional { required: "r".into(), maybe: None, defaulted: 7 }));
    // null and undefined are None for an Option.
    assert_eq!(read(r#"{ required: "r", maybe: null }"#).unwrap().maybe, None);
    assert_eq!(read(r#"{ required: "r", maybe: undefined }"#).unwrap().maybe, None);
    assert_eq!(read(r#"{ required: "r", maybe: 0 }"#).unwrap().maybe, Some(0));
    // A key that is there with undefined is there: the default does not apply and the number does not fit.
    assert_eq!(read(r#"{ required: "r", defaulted: undefined }"#), None);
    assert_eq!(read(r#"{ required: "r", defaulted: null }"#), None);
    assert_eq!(read(r#"{ required: "r", defaulted: 3 }"#).unwrap().defaulted, 3);
    // A required field missing, null or undefined does not fit.
    assert_eq!(read("{}"), None);
    assert_eq!(read("{ required: null }"), None);
    assert_eq!(read("{ required: undefined }"), None);
    // An inherited property counts as there (`in`), as the structured clone of a class instance would carry it.
    assert_eq!(read(r#"Object.create({ required: "from the prototype" })"#).unwrap().required, "from the prototype");
    // Option and unit at the top.
    assert_eq!(from_value::<Option<String>>(JsValue::NULL), Some(None));
    assert_eq!(from_value::<Option<String>>(JsValue::UNDEFINED), Some(None));
    assert_eq!(from_value::<Option<String>>("x".into()), Some(Some("x".into())));
    assert_eq!(from_value::<()>(JsValue::UNDEFINED), Some(()));
    assert_eq!(from_value::<()>(JsValue::from(0)), None);
}

#[wasm_bindgen_test]
fn a_value_of_the_wrong_type_is_none() {
    assert_eq!(from_value::<String>(JsValue::from(1)), None);
    assert_eq!(from_value::<String>(JsValue::NULL), None);
    assert_eq!(from_value::<u32>("1".into()), None, "no number from a string");
    assert_eq!(from_value::<bool>("true".into()), None);
    assert_eq!(from_value::<bool>(JsValue::from(1)), None);
    assert_eq!(from_value::<char>("ab".into()), None, "a char is exactly one letter");
    assert_eq!(from_value::<char>("é".into()), Some('é'));
    assert_eq!(from_value::<Vec<u32>>(parse(r#"{"0":1}"#)), None, "an object is no array");
    assert_eq!(from_value::<Vec<u32>>(parse("[1,\"2\"]")), None, "one wrong item spoils the list");
    assert_eq!(from_value::<Inner>(parse(r#"{"label":"a","weights":[1,true]}"#)), None);
    assert_eq!(from_value::<Inner>("label".into()), None, "a string is no struct");
    assert_eq!(from_value::<BTreeMap<String, u32>>(parse("7")), None);
    assert_eq!(from_value::<BTreeMap<String, u32>>(parse(r#"{"a":1,"b":"x"}"#)), None);
    assert_eq!(from_value::<BTreeMap<String, u32>>(parse(r#"{"a":1,"b":2}"#)), Some(BTreeMap::from([("a".into(), 1), ("b".into(), 2)])));
    assert_eq!(from_value::<BTreeMap<String, u32>>(parse("{}")), Some(BTreeMap::new()));
    assert_eq!(from_value::<Vec<u32>>(parse("[]")), Some(vec![]));
    // Enums: a known name only, as a string.
    assert_eq!(from_value::<Mood>("rather_busy".into()), Some(Mood::RatherBusy));
    assert_eq!(from_value::<Mood>("RatherBusy".into()), None);
    assert_eq!(from_value::<Mood>("sleepy".into()), None);
    assert_eq!(from_value::<Mood>(JsValue::from(0)), None);
    assert_eq!(from_value::<AuthMethod>("none".into()), Some(AuthMethod::None));
    // What has no JS form here does not convert at all: a tuple, a variant carrying data.
    #[derive(Serialize)]
    enum Carrying {
        Data(u8),
    }
    assert!(to_value(&(1, 2)).is_none());
    assert!(to_value(&Carrying::Data(1)).is_none());
    assert!(to_json(&vec![Carrying::Data(1)]).is_none(), "inside a list too");
}

#[wasm_bindgen_test]
fn preserve_keeps_the_js_value_itself() {
    #[derive(Deserialize)]
    struct Message {
        kind: String,
        #[serde(deserialize_with = "preserve")]
        record: JsValue,
    }
    let record = parse(r#"{"_id":"c1","connectionConfig":{},"extra":[1,{"x":null}]}"#);
    let message = Object::new();
    Reflect::set(&message, &"kind".into(), &"success".into()).unwrap();
    Reflect::set(&message, &"record".into(), &record).unwrap();
    let read: Message = from_value(message.into()).expect("a message");
    assert_eq!(read.kind, "success");
    assert!(Object::is(&read.record, &record), "the same object, not a copy");
    assert_eq!(stringify(&read.record), r#"{"_id":"c1","connectionConfig":{},"extra":[1,{"x":null}]}"#);
    // Whatever the value is: a string, null.
    let read: Message = from_value(parse(r#"{"kind":"k","record":"text"}"#)).unwrap();
    assert_eq!(read.record.as_string().as_deref(), Some("text"));
    let read: Message = from_value(parse(r#"{"kind":"k","record":null}"#)).unwrap();
    assert!(read.record.is_null());
}
