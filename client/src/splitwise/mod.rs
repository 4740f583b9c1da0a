//! Reading a Splitwise group export (`splitc import-splitwise`): the CSV fields (`csv`), amounts in
//! the file's locale (`amount`), the export's layout (`file`), what each row becomes in splitd
//! (`rebuild`), its category (`category`) and each row's idempotency key (`key`). Pure: text in, plans out; the requests and the
//! report are in `crate::import`.

pub mod amount;
pub mod category;
pub mod csv;
pub mod file;
pub mod key;
pub mod rebuild;
