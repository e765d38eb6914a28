//! Named enumerations: the vocabulary every surface shares.
//!
//! Each enum defined here has a stable number (its C value) and one name
//! (what Python and Node accept and print), both listed once, in the
//! enum's definition. Bindings look values up by name or number and never
//! keep tables of their own.

/// Defines a `#[repr(i32)]` enum whose variants each carry a number and a
/// name, with `ALL`, `name`, `name_cstr`, `from_raw` and `from_name`.
macro_rules! named_enum {
    (
        argument: $argument:literal;
        $(#[$meta:meta])*
        pub enum $enum:ident {
            $($(#[$vmeta:meta])* $variant:ident = $value:literal, $name:literal;)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
        #[repr(i32)]
        pub enum $enum {
            $($(#[$vmeta])* $variant = $value,)*
        }

        impl $enum {
            /// Every variant, in numeric order.
            pub const ALL: &'static [$enum] = &[$($enum::$variant),*];

            /// The name every surface uses for it (lower case, `_`-separated).
            pub const fn name(self) -> &'static str {
                match self {
                    $($enum::$variant => $name,)*
                }
            }

            /// [`Self::name`], NUL-terminated for the C API.
            pub const fn name_cstr(self) -> &'static ::std::ffi::CStr {
                match self {
                    $($enum::$variant => match ::std::ffi::CStr::from_bytes_with_nul(concat!($name, "\0").as_bytes()) {
                        Ok(name) => name,
                        Err(_) => panic!("a name contains a NUL byte"),
                    },)*
                }
            }

            /// The variant with this number (its C value).
            pub fn from_raw(raw: i32) -> Option<$enum> {
                Self::ALL.iter().copied().find(|v| *v as i32 == raw)
            }

            /// The variant with this name.
            pub fn from_name(name: &str) -> Option<$enum> {
                Self::ALL.iter().copied().find(|v| v.name() == name)
            }

            /// Every name, for messages.
            pub const NAMES: &'static str = concat!("one of:" $(, " ", $name)*);

            /// [`Self::from_raw`], or `EINVAL` naming the argument.
            pub fn parse_raw(raw: i32) -> $crate::error::Result<$enum> {
                Self::from_raw(raw).ok_or($crate::error::invalid!($argument, $enum::NAMES))
            }

            /// [`Self::from_name`], or `EINVAL` whose detail lists the names.
            pub fn parse(name: &str) -> $crate::error::Result<$enum> {
                Self::from_name(name).ok_or($crate::error::invalid!($argument, $enum::NAMES))
            }
        }
    };
}
pub(crate) use named_enum;
