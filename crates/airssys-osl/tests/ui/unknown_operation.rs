use airssys_osl::ops::FileRead;
use airssys_osl::{Context, OslError};

struct E;

#[airssys_osl::executor]
impl E {
    async fn file_raed(&self, op: FileRead, ctx: &Context) -> Result<Vec<u8>, OslError> {
        let _ = (op, ctx);
        Ok(Vec::new())
    }
}

fn main() {}
