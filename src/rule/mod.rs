//! The rule language as written: documents, conditions and templates.

pub mod ast;
pub mod condition;
pub mod template;
