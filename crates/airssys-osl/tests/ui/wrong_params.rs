use airssys_osl::ops::{FileRead, FileWrite};
use airssys_osl::{Context, OslError};

struct E;

#[airssys_osl::executor]
impl E {
    async fn file_read(&self, op: FileWrite, ctx: &Context) -> Result<Vec<u8>, OslError> {
        let _ = (op, ctx);
        Ok(Vec::new())
    }

    async fn file_write(&self, op: FileWrite) -> Result<(), OslError> {
        let _ = op;
        Ok(())
    }
}

fn main() {
    let _ = FileRead::new("x");
}
