//! The indicators against values TA-Lib computed (`tests/reference/talib_vectors.csv`, made by
//! `tools/reference/make_talib_vectors.py`): every value must be bit-identical, and in particular
//! within the 1e-9 relative tolerance the project promises.

use strategy::{Ema, Rsi, Sma};

struct Vectors {
    columns: Vec<String>,
    rows: Vec<Vec<Option<f64>>>,
}

fn load() -> Vectors {
    let text = include_str!("reference/talib_vectors.csv");
    let mut lines = text.lines();
    let columns = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let rows = lines
        .map(|line| {
            line.split(',')
                .map(|field| (!field.is_empty()).then(|| field.parse::<f64>().unwrap()))
                .collect()
        })
        .collect();
    Vectors { columns, rows }
}

fn column(vectors: &Vectors, name: &str) -> Vec<Option<f64>> {
    let index = vectors.columns.iter().position(|c| c == name).unwrap();
    vectors.rows.iter().map(|row| row[index]).collect()
}

fn check(
    name: &str,
    expected: &[Option<f64>],
    mut indicator: impl FnMut(f64) -> Option<f64>,
    closes: &[f64],
) {
    let mut checked = 0;
    for (row, (&close, &want)) in closes.iter().zip(expected).enumerate() {
        let got = indicator(close);
        match (got, want) {
            (None, None) => {}
            (Some(got), Some(want)) => {
                let relative = ((got - want) / want).abs();
                assert!(
                    got.to_bits() == want.to_bits() || relative <= 1e-9,
                    "{name} row {row}: got {got:?}, TA-Lib {want:?}"
                );
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "{name} row {row}: not bit-identical"
                );
                checked += 1;
            }
            _ => panic!(
                "{name} row {row}: got {got:?}, TA-Lib {want:?} (defined at a different index)"
            ),
        }
    }
    assert!(checked > 3000, "{name}: only {checked} values compared");
}

#[test]
fn indicators_match_talib_bit_for_bit() {
    let vectors = load();
    let closes: Vec<f64> = column(&vectors, "close")
        .into_iter()
        .map(Option::unwrap)
        .collect();
    for period in [5, 20] {
        let mut sma = Sma::new(period);
        check(
            &format!("sma_{period}"),
            &column(&vectors, &format!("sma_{period}")),
            |x| sma.update(x),
            &closes,
        );
    }
    for period in [2, 9, 21, 50] {
        let mut ema = Ema::new(period);
        check(
            &format!("ema_{period}"),
            &column(&vectors, &format!("ema_{period}")),
            |x| ema.update(x),
            &closes,
        );
    }
    for period in [2, 14, 30] {
        let mut rsi = Rsi::new(period);
        check(
            &format!("rsi_{period}"),
            &column(&vectors, &format!("rsi_{period}")),
            |x| rsi.update(x),
            &closes,
        );
    }
}
