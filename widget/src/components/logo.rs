//! An integration's logo: the image, lazily loaded, or a coloured monogram when there is none or it fails.

use leptos::prelude::*;

/// Up to two letters naming the integration: "Google Drive" → "GD", "Stripe" → "S". Letters and digits, and their
/// capitals, as the browser's Unicode tables have them (a copy of those tables in the wasm costs kilobytes).
pub fn monogram(title: &str) -> String {
    let letter_or_digit = js_sys::RegExp::new(r"^[\p{Alphabetic}\p{N}]$", "u");
    let letters: String = title
        .split(|c: char| c.is_whitespace() || c == '-' || c == '.')
        .filter_map(|w| w.chars().find(|c| letter_or_digit.test(c.encode_utf8(&mut [0; 4]))))
        .take(2)
        .collect();
    js_sys::JsString::from(letters).to_upper_case().into()
}

/// A stable hue for a platform id, so each monogram keeps its colour.
pub fn hue(platform: &str) -> u32 {
    platform.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % 360
}

#[component]
pub fn Logo(image: String, title: String, platform: String) -> impl IntoView {
    let failed = RwSignal::new(image.is_empty());
    let letters = monogram(&title);
    let class = format!("pb-monogram pb-hue-{}", hue(&platform) / 30);
    move || {
        if failed.get() {
            view! { <span class=class.clone() aria-hidden="true">{letters.clone()}</span> }.into_any()
        } else {
            view! {
                <img class="pb-logo" src=image.clone() alt="" loading="lazy" width="32" height="32"
                     on:error=move |_| failed.set(true)/>
            }
            .into_any()
        }
    }
}
