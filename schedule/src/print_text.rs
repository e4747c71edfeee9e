//! A readable, line-per-node listing of a schedule ([`Schedule::to_text`]), for review and
//! golden tests.

use std::fmt::Write;

use crate::program::{Instr, Layout, Pack, Plain, Schedule, Source, TensorInput};

impl Schedule {
    /// The schedule as text: a header (name, hash, parameters, slot grid, keys), the inputs,
    /// the client's derived tensors and input ciphertexts, one line per node, the hoisting
    /// groups and the outputs.
    ///
    /// The text is write-only (nothing parses it back; [`crate::ScheduleFormat`] is for that) and
    /// deterministic: every float is printed with a fixed number of significant digits, scales as
    /// log2 with three decimals, error bounds with two significant digits, so a change in the last
    /// bits of a computed value does not change the text. Layout:
    ///
    /// ```text
    /// schedule identity.hel
    /// program_hash 3f2a…
    /// params log_n 13, q_bits [50, 40, 40], p_bits [40, 40], dnum 3, log_scale 40, security classical-128
    /// level_scales [2^40.000, 2^40.000, 2^40.000]
    /// unit 64 x 64 (4096 slots)
    /// rotation_steps [-1, 1, 4]
    /// conjugation yes
    ///
    /// inputs
    ///   x: enc vector[5] range [-4, 4]
    /// derived
    ///   D: matrix[2, 2] = Z[1] @ transpose(Z[0])  ; 4 client ops
    /// ct_inputs
    ///   ct0 = x row_vector(offset 0)  ; level 2 scale 2^40.000
    /// nodes
    ///   %12 = rotate %7, 3  ; level 4 scale 2^40.000 deg 1 bound 1.2e-7  ; matvec (ir %5) @ gd.hel:3:5
    /// hoist_groups
    ///   %12 %13 %14
    /// outputs
    ///   beta: vector[5] <- %40 row_vector(offset 0)  ; bound 1.2e-7 range 1.3e1
    /// ```
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.write_text(&mut out)
            .expect("writing to a String cannot fail");
        out
    }

    fn write_text(&self, o: &mut String) -> std::fmt::Result {
        let p = &self.params;
        writeln!(o, "schedule {}", self.name)?;
        writeln!(o, "program_hash {}", self.program_hash)?;
        let security = p.security.name();
        writeln!(
            o,
            "params log_n {}, q_bits {}, p_bits {}, dnum {}, log_scale {}, security {security}",
            p.log_n,
            list(&p.q_bits, |b| b.to_string()),
            list(&p.p_bits, |b| b.to_string()),
            p.dnum,
            p.log_scale,
        )?;
        if let Some(b) = &self.bootstrap {
            writeln!(
                o,
                "bootstrap log_n {}, 2^{} slots, log_q0 {}, {} program levels, {} levels \
                 consumed, {} bootstraps",
                b.log_n,
                b.log_slots,
                b.log_q0,
                b.program_levels,
                b.levels_consumed(),
                self.bootstraps().count()
            )?;
        }
        writeln!(
            o,
            "level_scales {}",
            list(&self.level_scales, |&s| scale(s))
        )?;
        writeln!(
            o,
            "unit {} x {} ({} slots)",
            self.unit.h,
            self.unit.w,
            self.unit.h.saturating_mul(self.unit.w)
        )?;
        writeln!(
            o,
            "rotation_steps {}",
            list(&self.rotation_steps, |s| s.to_string())
        )?;
        let yes_no = if self.needs_conjugation { "yes" } else { "no" };
        writeln!(o, "conjugation {yes_no}")?;

        writeln!(o, "\ninputs")?;
        for i in &self.inputs {
            let kind = if i.encrypted { "enc" } else { "plain" };
            write!(o, "  {}: {kind} {}", i.name, i.shape)?;
            if let Some(k) = i.seq {
                write!(o, "[{k}]")?;
            }
            if let Some((lo, hi)) = i.range {
                write!(o, " range [{}, {}]", num(lo), num(hi))?;
            }
            if let Some(from) = &i.refreshed_from {
                write!(o, "  ; bootstrapped from output `{from}` by the server")?;
            }
            writeln!(o)?;
        }
        writeln!(o, "derived")?;
        for d in &self.derived {
            writeln!(
                o,
                "  {}: {} = {}  ; {} client op{}",
                d.name,
                d.shape,
                d.description,
                d.ops.len(),
                if d.ops.len() == 1 { "" } else { "s" }
            )?;
        }
        writeln!(o, "ct_inputs")?;
        for (i, c) in self.ct_inputs.iter().enumerate() {
            writeln!(
                o,
                "  ct{i} = {}  ; level {} scale {}",
                self.pack(&c.pack),
                c.level,
                scale(c.scale)
            )?;
        }

        writeln!(o, "nodes")?;
        for (i, n) in self.nodes.iter().enumerate() {
            write!(
                o,
                "  %{i} = {}  ; level {} scale {} deg {} bound {}",
                self.instr(&n.instr),
                n.level,
                scale(n.scale),
                n.degree,
                bound(n.bound)
            )?;
            let origin = &n.origin;
            if !origin.tensor_op.is_empty() || origin.span.is_some() {
                write!(o, "  ; {} (ir %{})", origin.tensor_op, origin.tensor_node)?;
                if let Some(span) = &origin.span {
                    write!(o, " @ {span}")?;
                }
            }
            writeln!(o)?;
        }
        if !self.hoist_groups.is_empty() {
            writeln!(o, "hoist_groups")?;
            for g in &self.hoist_groups {
                let ids: Vec<String> = g.iter().map(|v| format!("%{v}")).collect();
                writeln!(o, "  {}", ids.join(" "))?;
            }
        }

        writeln!(o, "outputs")?;
        for out in &self.outputs {
            let tiles: Vec<String> = out
                .tiles
                .iter()
                .map(|t| {
                    let mut s = format!("%{} {}", t.value, layout(&t.layout));
                    if t.factor != 1.0 {
                        let _ = write!(s, " factor {}", num(t.factor));
                    }
                    s
                })
                .collect();
            writeln!(
                o,
                "  {}: {} <- {}  ; bound {} range {}",
                out.name,
                out.shape,
                tiles.join(", "),
                bound(out.bound),
                bound(out.range)
            )?;
        }
        Ok(())
    }

    /// `x`, `Z[1]` or the derived tensor's name, then the layout and any factor.
    fn pack(&self, pack: &Pack) -> String {
        let source = match pack.source {
            Source::Input { input, element } => match self.inputs.get(input as usize) {
                Some(TensorInput {
                    name, seq: Some(_), ..
                }) => format!("{name}[{element}]"),
                Some(TensorInput { name, .. }) => name.clone(),
                None => format!("input#{input}[{element}]"),
            },
            Source::Derived { index } => match self.derived.get(index as usize) {
                Some(d) => d.name.clone(),
                None => format!("derived#{index}"),
            },
        };
        let mut s = format!("{source} {}", layout(&pack.layout));
        if pack.factor != 1.0 {
            let _ = write!(s, " factor {}", num(pack.factor));
        }
        s
    }

    fn plain(&self, plain: &Plain) -> String {
        match plain {
            Plain::Rect { value, rows, cols } => format!(
                "rect({}, rows {}..{}, cols {}..{})",
                num(*value),
                rows.0,
                rows.1,
                cols.0,
                cols.1
            ),
            Plain::Diagonal {
                value,
                offset,
                rows,
            } => format!(
                "diagonal({}, offset {offset}, rows {}..{})",
                num(*value),
                rows.0,
                rows.1
            ),
            Plain::Public { pack } => format!("public({})", self.pack(pack)),
        }
    }

    fn instr(&self, instr: &Instr) -> String {
        let name = instr.name();
        match instr {
            Instr::Input { index } => format!("{name} ct{index}"),
            Instr::Add { a, b } | Instr::Sub { a, b } | Instr::Mul { a, b } => {
                format!("{name} %{a}, %{b}")
            }
            Instr::Neg { a }
            | Instr::Relinearize { a }
            | Instr::Rescale { a }
            | Instr::Conjugate { a } => format!("{name} %{a}"),
            Instr::AddPlain { a, plain } => format!("{name} %{a}, {}", self.plain(plain)),
            Instr::Trivial { plain, .. } => format!("{name} {}", self.plain(plain)),
            Instr::MulPlain { a, plain, scale: s } => {
                format!("{name} %{a}, {}, scale {}", self.plain(plain), scale(*s))
            }
            Instr::AddConst { a, value } => format!("{name} %{a}, {}", num(*value)),
            Instr::MulConst { a, value, scale: s } => {
                format!("{name} %{a}, {}, scale {}", num(*value), scale(*s))
            }
            Instr::MulInt { a, k } => format!("{name} %{a}, {k}"),
            Instr::ModDown { a, level } => format!("{name} %{a}, level {level}"),
            Instr::Bootstrap {
                a,
                level,
                scale: s,
                with,
            } => {
                let with = with.map_or(String::new(), |b| format!(" with %{b}"));
                format!("{name} %{a}{with}, level {level}, scale {}", scale(*s))
            }
            Instr::BootstrapPaired {
                x,
                b,
                level,
                scale: s,
            } => format!("{name} %{b} from %{x}, level {level}, scale {}", scale(*s)),
            Instr::Rotate { a, step } => format!("{name} %{a}, {step}"),
        }
    }
}

fn layout(layout: &Layout) -> String {
    match *layout {
        Layout::MatrixTile {
            transposed,
            row0,
            col0,
        } => format!(
            "{}(row0 {row0}, col0 {col0})",
            if transposed { "tile_t" } else { "tile" }
        ),
        Layout::RowVector { offset } => format!("row_vector(offset {offset})"),
        Layout::ColVector { offset } => format!("col_vector(offset {offset})"),
        Layout::Scalar => "scalar".into(),
        Layout::MatrixRow {
            transposed,
            row,
            col0,
        } => format!(
            "{}(row {row}, col0 {col0})",
            if transposed { "row_t" } else { "row" }
        ),
    }
}

fn list<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    let items: Vec<String> = items.iter().map(f).collect();
    format!("[{}]", items.join(", "))
}

/// A scale as `2^x` with three decimals.
fn scale(s: f64) -> String {
    if s > 0.0 && s.is_finite() {
        format!("2^{:.3}", s.log2())
    } else {
        num(s)
    }
}

/// An error bound with two significant digits (`1.2e-7`), `inf` when unbounded.
fn bound(b: f64) -> String {
    if b.is_finite() {
        format!("{b:.1e}")
    } else {
        num(b)
    }
}

/// A constant with six significant digits, trailing zeros dropped: integers as integers,
/// `0.0843`, `-2.5`, and exponent notation below 1e-4 or from 1e6 on (`9.53674e-7`).
fn num(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    if x == 0.0 {
        return "0".into();
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let e = format!("{x:.5e}");
    let (mantissa, exp) = e.split_once('e').expect("exponent notation");
    let exp: i32 = exp.parse().expect("integer exponent");
    if (-4..6).contains(&exp) {
        let decimals = (5 - exp) as usize;
        trim_zeros(&format!("{x:.decimals$}"))
    } else {
        format!("{}e{exp}", trim_zeros(mantissa))
    }
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::num;

    #[test]
    fn numbers_have_six_significant_digits() {
        let cases = [
            (0.0, "0"),
            (-0.0, "0"),
            (3.0, "3"),
            (-4096.0, "-4096"),
            (0.5, "0.5"),
            (0.0843, "0.0843"),
            (1.0 / 3.0, "0.333333"),
            (-2.0 / 3.0, "-0.666667"),
            (123456.7, "123457"),
            (1234567.5, "1.23457e6"),
            (0.0002, "0.0002"),
            (0.0002 / 1024.0, "1.95313e-7"),
            // 2^-10 = 0.0009765625 exactly: ties round to even.
            (1.0 / 1024.0, "0.000976562"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for (x, want) in cases {
            assert_eq!(num(x), want, "{x:e}");
        }
        // The last bits of a computed value do not show.
        assert_eq!(num(0.1 + 0.2), num(0.3));
    }
}
