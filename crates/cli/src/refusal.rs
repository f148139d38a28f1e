//! Printing a [`Refusal`] (of `ez_ops`): its exit code, one message and what to do next,
//! printed once by [`finish`] at the command's entry instead of by each branch.
//!
//! Invariant: what [`finish`] prints and returns is what the branches printed and returned
//! before (`ezctl: error: <message>`, each hint on its own line indented under it).

pub use ez_ops::refusal::Refusal;

/// Prints a refusal the way ezctl always has and turns it into its exit code; other results
/// pass through unchanged.
pub fn finish(r: anyhow::Result<u8>) -> anyhow::Result<u8> {
    finish_as("ezctl: error:", r)
}

/// [`finish`] with another first word than `ezctl: error:` (ezdown's is `ezdown:`).
pub fn finish_as(prefix: &str, r: anyhow::Result<u8>) -> anyhow::Result<u8> {
    match r {
        Err(e) => match e.downcast::<Refusal>() {
            Ok(x) if x.message.is_empty() => Ok(x.code),
            Ok(x) => {
                eprintln!("{prefix} {}", x.message);
                for h in &x.hints {
                    eprintln!("       {h}");
                }
                Ok(x.code)
            }
            Err(other) => Err(other),
        },
        ok => ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_becomes_its_code_and_other_errors_pass() {
        let r: anyhow::Result<u8> = Refusal::new(2, "Invalid ip add:x").hint("h").into_result();
        assert_eq!(finish(r).unwrap(), 2);
        assert_eq!(finish(Ok(0)).unwrap(), 0);
        assert!(finish(Err(anyhow::anyhow!("io"))).is_err());
    }
}
