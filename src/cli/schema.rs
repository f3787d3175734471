//! `sgscan schema [json|jsonl]`: the JSON Schema of a report format, for consumers to validate
//! reports or generate their types from.

use anyhow::{Context as _, Result};

use super::args::{SchemaArgs, SchemaFormat};
use crate::report::schema::{SchemaOf, json_schema};

pub fn run(args: SchemaArgs) -> Result<i32> {
    let of = match args.format {
        SchemaFormat::Json => SchemaOf::Json,
        SchemaFormat::Jsonl => SchemaOf::Jsonl,
    };
    let text = serde_json::to_string_pretty(&json_schema(of)).context("cannot encode the schema")?;
    super::print(&text)
}
