//! The shared wire types to and from plain JS values: the server's answers (`JSON.parse`d), the host page's
//! messages (structured-cloned), request bodies (for `JSON.stringify`).
//!
//! serde-wasm-bindgen would do, but its errors are JS `Error`s carrying serde's formatted message, and formatting
//! them pulls every visitor's `expecting` text and Rust's float printing (for "invalid type: floating point
//! `1.5`") into the wasm. The widget only ever asks *whether* a value fits, so here an error is one unit value and
//! its message is never built.
//!
//! Long on purpose: one hand-written conversion per wire type, in place of serde-wasm-bindgen (its size cost the
//! widget more than this file does).

use js_sys::{Array, Object, Reflect};
use serde::{
    de::{self, value::StrDeserializer, DeserializeOwned, IntoDeserializer, Visitor},
    ser,
};
use wasm_bindgen::{JsCast, JsValue};

/// `value` as a `T`, or `None` when it does not fit.
pub fn from_value<T: DeserializeOwned>(value: JsValue) -> Option<T> {
    T::deserialize(Reader(value)).ok()
}

/// The value did not fit; deliberately without a message (see the module docs).
#[derive(Debug)]
pub struct Mismatch;

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("mismatch")
    }
}

impl std::error::Error for Mismatch {}

impl ser::Error for Mismatch {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Mismatch
    }
}

impl de::Error for Mismatch {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Mismatch
    }
}

type Result<T> = std::result::Result<T, Mismatch>;

struct Reader(JsValue);

impl Reader {
    fn is_nullish(&self) -> bool {
        self.0.is_null() || self.0.is_undefined()
    }

    /// An integer JS number, within the range JS represents exactly.
    fn integer(&self) -> Option<f64> {
        self.0.as_f64().filter(|n| n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_991.0)
    }
}

fn key(name: &str) -> StrDeserializer<'_, Mismatch> {
    name.into_deserializer()
}

/// A JS object read field by field: only the fields the type has, and a missing one (`undefined` and not `in`
/// the object) left out, so `#[serde(default)]` and `Option` work as with serde-wasm-bindgen.
struct Fields {
    object: JsValue,
    fields: std::slice::Iter<'static, &'static str>,
    next: Option<JsValue>,
}

impl<'de> de::MapAccess<'de> for Fields {
    type Error = Mismatch;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        for field in &mut self.fields {
            let name = JsValue::from_str(field);
            let value = Reflect::get(&self.object, &name).map_err(|_| Mismatch)?;
            if !value.is_undefined() || Reflect::has(self.object.unchecked_ref(), &name).unwrap_or(false) {
                self.next = Some(value);
                return seed.deserialize(key(field)).map(Some);
            }
        }
        Ok(None)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        seed.deserialize(Reader(self.next.take().ok_or(Mismatch)?))
    }
}

/// The items of a JS array, in order.
struct Items {
    array: Array,
    index: u32,
}

impl Iterator for Items {
    type Item = JsValue;

    fn next(&mut self) -> Option<JsValue> {
        (self.index < self.array.length()).then(|| {
            self.index += 1;
            self.array.get(self.index - 1)
        })
    }
}

/// Any object's own entries, for maps.
struct Entries {
    entries: Items,
    next: Option<JsValue>,
}

impl<'de> de::MapAccess<'de> for Entries {
    type Error = Mismatch;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let Some(pair) = self.entries.next() else { return Ok(None) };
        let pair: Array = pair.unchecked_into();
        self.next = Some(pair.get(1));
        seed.deserialize(Reader(pair.get(0))).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        seed.deserialize(Reader(self.next.take().ok_or(Mismatch)?))
    }
}

impl<'de> de::SeqAccess<'de> for Items {
    type Error = Mismatch;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        self.next().map(|v| seed.deserialize(Reader(v))).transpose()
    }
}

/// A unit variant, named by a string.
struct Variant(String);

impl<'de> de::EnumAccess<'de> for Variant {
    type Error = Mismatch;
    type Variant = UnitOnly;

    fn variant_seed<V: de::DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, UnitOnly)> {
        Ok((seed.deserialize(key(&self.0))?, UnitOnly))
    }
}

struct UnitOnly;

impl<'de> de::VariantAccess<'de> for UnitOnly {
    type Error = Mismatch;

    fn unit_variant(self) -> Result<()> {
        Ok(())
    }

    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(self, _: T) -> Result<T::Value> {
        Err(Mismatch)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value> {
        Err(Mismatch)
    }

    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], _: V) -> Result<V::Value> {
        Err(Mismatch)
    }
}

/// The `JsValue` itself, for [`preserve`] (its name marks the request).
const PRESERVE: &str = "plugboard::js_value::preserve";

thread_local! {
    static PRESERVED: std::cell::Cell<Option<JsValue>> = const { std::cell::Cell::new(None) };
}

fn items(value: JsValue) -> Items {
    Items { array: value.unchecked_into(), index: 0 }
}

impl<'de> de::Deserializer<'de> for Reader {
    type Error = Mismatch;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.is_nullish() {
            visitor.visit_unit()
        } else if let Some(b) = self.0.as_bool() {
            visitor.visit_bool(b)
        } else if let Some(n) = self.integer() {
            if n < 0.0 {
                visitor.visit_i64(n as i64)
            } else {
                visitor.visit_u64(n as u64)
            }
        } else if let Some(n) = self.0.as_f64() {
            visitor.visit_f64(n)
        } else if let Some(s) = self.0.as_string() {
            visitor.visit_string(s)
        } else if Array::is_array(&self.0) {
            visitor.visit_seq(items(self.0))
        } else if self.0.is_object() {
            self.deserialize_map(visitor)
        } else {
            Err(Mismatch)
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_bool(self.0.as_bool().ok_or(Mismatch)?)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_i64(self.integer().ok_or(Mismatch)? as i64)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.integer() {
            Some(n) if n >= 0.0 => visitor.visit_u64(n as u64),
            _ => Err(Mismatch),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_f64(self.0.as_f64().ok_or(Mismatch)?)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_string(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_string(self.0.as_string().ok_or(Mismatch)?)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Mismatch)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, _: V) -> Result<V::Value> {
        Err(Mismatch)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.is_nullish() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.is_nullish() {
            visitor.visit_unit()
        } else {
            Err(Mismatch)
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value> {
        if name == PRESERVE {
            PRESERVED.with(|p| p.set(Some(self.0)));
            return visitor.visit_unit();
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if Array::is_array(&self.0) {
            visitor.visit_seq(items(self.0))
        } else {
            Err(Mismatch)
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(self, _: &'static str, _: usize, visitor: V) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if !self.0.is_object() {
            return Err(Mismatch);
        }
        let entries = items(Object::entries(self.0.unchecked_ref()).into());
        visitor.visit_map(Entries { entries, next: None })
    }

    fn deserialize_struct<V: Visitor<'de>>(self, _: &'static str, fields: &'static [&'static str], visitor: V) -> Result<V::Value> {
        if !self.0.is_object() {
            return Err(Mismatch);
        }
        visitor.visit_map(Fields { object: self.0, fields: fields.iter(), next: None })
    }

    fn deserialize_enum<V: Visitor<'de>>(self, _: &'static str, _: &'static [&'static str], visitor: V) -> Result<V::Value> {
        visitor.visit_enum(Variant(self.0.as_string().ok_or(Mismatch)?))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }
}

/// `#[serde(deserialize_with = "crate::js_value::preserve")]`: keeps a field as the JS value it is (the
/// connection record handed on to the host page untouched).
pub fn preserve<'de, D: de::Deserializer<'de>>(de: D) -> std::result::Result<JsValue, D::Error> {
    struct Take;
    impl<'de> Visitor<'de> for Take {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JS value")
        }
        fn visit_unit<E>(self) -> std::result::Result<(), E> {
            Ok(())
        }
    }
    de.deserialize_newtype_struct(PRESERVE, Take)?;
    PRESERVED.with(|p| p.take()).ok_or_else(|| de::Error::custom("not read from a JS value"))
}

/// `value` as JSON text, through a plain JS object and `JSON.stringify` (`None` as `null`, maps as objects).
pub fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Option<String> {
    js_sys::JSON::stringify(&to_value(value)?).ok()?.as_string()
}

/// `value` as a plain JS value: structs and maps as objects, sequences as arrays, unit variants as their names.
pub fn to_value<T: serde::Serialize + ?Sized>(value: &T) -> Option<JsValue> {
    value.serialize(Writer).ok()
}

struct Writer;

/// An object being filled in, key by key.
struct ObjectWriter {
    object: Object,
    key: Option<JsValue>,
}

struct ArrayWriter(Array);

impl ser::SerializeStruct for ObjectWriter {
    type Ok = JsValue;
    type Error = Mismatch;

    fn serialize_field<T: serde::Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<()> {
        Reflect::set(&self.object, &JsValue::from_str(key), &value.serialize(Writer)?).map(drop).map_err(|_| Mismatch)
    }

    fn end(self) -> Result<JsValue> {
        Ok(self.object.into())
    }
}

impl ser::SerializeMap for ObjectWriter {
    type Ok = JsValue;
    type Error = Mismatch;

    fn serialize_key<T: serde::Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.key = Some(key.serialize(Writer)?);
        Ok(())
    }

    fn serialize_value<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let key = self.key.take().ok_or(Mismatch)?;
        Reflect::set(&self.object, &key, &value.serialize(Writer)?).map(drop).map_err(|_| Mismatch)
    }

    fn end(self) -> Result<JsValue> {
        Ok(self.object.into())
    }
}

impl ser::SerializeSeq for ArrayWriter {
    type Ok = JsValue;
    type Error = Mismatch;

    fn serialize_element<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.0.push(&value.serialize(Writer)?);
        Ok(())
    }

    fn end(self) -> Result<JsValue> {
        Ok(self.0.into())
    }
}

impl ser::Serializer for Writer {
    type Ok = JsValue;
    type Error = Mismatch;
    type SerializeSeq = ArrayWriter;
    type SerializeTuple = ser::Impossible<JsValue, Mismatch>;
    type SerializeTupleStruct = ser::Impossible<JsValue, Mismatch>;
    type SerializeTupleVariant = ser::Impossible<JsValue, Mismatch>;
    type SerializeMap = ObjectWriter;
    type SerializeStruct = ObjectWriter;
    type SerializeStructVariant = ser::Impossible<JsValue, Mismatch>;

    fn serialize_bool(self, v: bool) -> Result<JsValue> {
        Ok(v.into())
    }

    fn serialize_i8(self, v: i8) -> Result<JsValue> {
        self.serialize_f64(v.into())
    }

    fn serialize_i16(self, v: i16) -> Result<JsValue> {
        self.serialize_f64(v.into())
    }

    fn serialize_i32(self, v: i32) -> Result<JsValue> {
        self.serialize_f64(v.into())
    }

    fn serialize_i64(self, v: i64) -> Result<JsValue> {
        self.serialize_f64(v as f64)
    }

    fn serialize_u8(self, v: u8) -> Result<JsValue> {
        self.serialize_f64(v.into())
    }

    fn serialize_u16(self, v: u16) -> Result<JsValue> {
        self.serialize_f64(v.into())
    }

    fn serialize_u32(self, v: u32) -> Result<JsValue> {
        self.serialize_f64(v.into())
    }

    fn serialize_u64(self, v: u64) -> Result<JsValue> {
        self.serialize_f64(v as f64)
    }

    fn serialize_f32(self, v: f32) -> Result<JsValue> {
        self.serialize_f64(v.into())
    }

    fn serialize_f64(self, v: f64) -> Result<JsValue> {
        Ok(v.into())
    }

    fn serialize_char(self, v: char) -> Result<JsValue> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<JsValue> {
        Ok(v.into())
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<JsValue> {
        Err(Mismatch)
    }

    fn serialize_none(self) -> Result<JsValue> {
        Ok(JsValue::NULL)
    }

    fn serialize_some<T: serde::Serialize + ?Sized>(self, value: &T) -> Result<JsValue> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<JsValue> {
        Ok(JsValue::NULL)
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<JsValue> {
        Ok(JsValue::NULL)
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<JsValue> {
        Ok(variant.into())
    }

    fn serialize_newtype_struct<T: serde::Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<JsValue> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: serde::Serialize + ?Sized>(self, _: &'static str, _: u32, _: &'static str, _: &T) -> Result<JsValue> {
        Err(Mismatch)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<ArrayWriter> {
        Ok(ArrayWriter(Array::new()))
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple> {
        Err(Mismatch)
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct> {
        Err(Mismatch)
    }

    fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeTupleVariant> {
        Err(Mismatch)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<ObjectWriter> {
        Ok(ObjectWriter { object: Object::new(), key: None })
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<ObjectWriter> {
        self.serialize_map(None)
    }

    fn serialize_struct_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeStructVariant> {
        Err(Mismatch)
    }
}
