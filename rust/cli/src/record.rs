//! One output record per map: the analysis, or the reason there is none.

use serde::Serialize;
use stdann_cortex::{pinwheel_density, DensityOptions, Map};

use crate::npy::{read_map, MapArray, MapValues};
use crate::Input;

/// What every map is analysed with.
#[derive(Clone, Debug)]
pub struct Settings {
    pub period: f64,
    pub pixel_mm: Option<f64>,
    pub key: Option<String>,
    pub margin_px: usize,
    pub positions: bool,
}

/// The record of one map. Every field but `path` is empty (null) in an
/// error record, and `error` is empty in a good one, so that all records
/// share one set of columns.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Record {
    pub path: String,
    pub key: Option<String>,
    pub shape: Option<[usize; 2]>,
    pub period: Option<f64>,
    pub n_plus: Option<usize>,
    pub n_minus: Option<usize>,
    pub n_total: Option<usize>,
    pub wavelength_px: Option<f64>,
    pub wavelength_mm: Option<f64>,
    pub area_px: Option<f64>,
    pub area_mm2: Option<f64>,
    pub area_columns: Option<f64>,
    pub density: Option<f64>,
    pub density_plus: Option<f64>,
    pub density_minus: Option<f64>,
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinwheels: Option<Vec<(f64, f64, i8)>>,
}

/// Reads and analyses one input; never panics the run: a panic while
/// reading or analysing becomes an error record too.
pub fn analyse(input: &Input, settings: &Settings) -> Record {
    let name = match input {
        Input::File(p) => p.display().to_string(),
        Input::Missing { name, .. } => name.clone(),
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_and_measure(input, settings)
    }))
    .unwrap_or_else(|_| Record {
        path: name,
        error: Some("internal error while reading or analysing the map".into()),
        ..Record::default()
    })
}

fn read_and_measure(input: &Input, settings: &Settings) -> Record {
    let path = match input {
        Input::File(p) => p,
        Input::Missing { name, reason } => {
            return Record {
                path: name.clone(),
                error: Some(reason.clone()),
                ..Record::default()
            }
        }
    };
    let mut rec = Record {
        path: path.display().to_string(),
        key: path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("npz"))
            .then(|| settings.key.clone())
            .flatten(),
        ..Record::default()
    };
    let array = match read_map(path, settings.key.as_deref()) {
        Ok(a) => a,
        Err(e) => {
            rec.error = Some(e.to_string());
            return rec;
        }
    };
    rec.shape = Some([array.height, array.width]);
    match measure(&array, settings) {
        Ok(m) => Record {
            path: rec.path,
            key: rec.key,
            shape: rec.shape,
            ..m
        },
        Err(e) => Record {
            error: Some(e.to_string()),
            ..rec
        },
    }
}

fn measure(array: &MapArray, s: &Settings) -> stdann_cortex::Result<Record> {
    let (h, w) = (array.height, array.width);
    let map = match &array.values {
        MapValues::F32(v) => Map::angles_f32(v, h, w, s.period)?,
        MapValues::F64(v) => Map::angles_f64(v, h, w, s.period)?,
        MapValues::Complex(v) => Map::complex(v, h, w)?,
    };
    let options = DensityOptions {
        margin_px: s.margin_px,
        pixel_mm: s.pixel_mm,
    };
    let d = pinwheel_density(&map, &options)?;
    Ok(Record {
        period: Some(s.period),
        n_plus: Some(d.n_plus),
        n_minus: Some(d.n_minus),
        n_total: Some(d.n_total()),
        wavelength_px: Some(d.spacing.wavelength_px),
        wavelength_mm: d.wavelength_mm(),
        area_px: Some(d.area_px),
        area_mm2: d.area_mm2(),
        area_columns: Some(d.area_in_columns()),
        density: Some(d.density),
        density_plus: Some(d.density_plus),
        density_minus: Some(d.density_minus),
        pinwheels: s
            .positions
            .then(|| d.pinwheels.iter().map(|p| (p.x, p.y, p.charge)).collect()),
        ..Record::default()
    })
}

const COLUMNS: [&str; 17] = [
    "path",
    "key",
    "height",
    "width",
    "period",
    "n_plus",
    "n_minus",
    "n_total",
    "wavelength_px",
    "wavelength_mm",
    "area_px",
    "area_mm2",
    "area_columns",
    "density",
    "density_plus",
    "density_minus",
    "error",
];

pub fn csv_header(positions: bool) -> String {
    let mut cols = COLUMNS.join(",");
    if positions {
        cols.push_str(",pinwheels");
    }
    cols
}

impl Record {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a record always serialises")
    }

    /// One CSV row in [`csv_header`]'s columns; with positions, the
    /// pinwheels are one JSON list `[[x, y, charge], ...]` in the last field.
    pub fn to_csv(&self, positions: bool) -> String {
        fn num<T: ToString>(v: Option<T>) -> String {
            v.map(|v| v.to_string()).unwrap_or_default()
        }
        let mut fields = vec![
            quote(&self.path),
            quote(self.key.as_deref().unwrap_or("")),
            num(self.shape.map(|s| s[0])),
            num(self.shape.map(|s| s[1])),
            num(self.period),
            num(self.n_plus),
            num(self.n_minus),
            num(self.n_total),
            num(self.wavelength_px),
            num(self.wavelength_mm),
            num(self.area_px),
            num(self.area_mm2),
            num(self.area_columns),
            num(self.density),
            num(self.density_plus),
            num(self.density_minus),
            quote(self.error.as_deref().unwrap_or("")),
        ];
        if positions {
            let list = self
                .pinwheels
                .as_ref()
                .map(|p| serde_json::to_string(p).expect("numbers serialise"))
                .unwrap_or_default();
            fields.push(quote(&list));
        }
        fields.join(",")
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_match_the_header_and_quote_what_needs_it() {
        let rec = Record {
            path: "maps/a,b.npy".into(),
            error: Some("not a NumPy .npy array".into()),
            ..Record::default()
        };
        let row = rec.to_csv(false);
        assert!(row.starts_with("\"maps/a,b.npy\","));
        assert_eq!(
            row.matches(',').count() - 1,
            csv_header(false).matches(',').count()
        );
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn a_missing_input_is_an_error_record_naming_it() {
        let settings = Settings {
            period: 360.0,
            pixel_mm: None,
            key: None,
            margin_px: 0,
            positions: false,
        };
        let rec = analyse(&Input::File("/nonexistent/map.npy".into()), &settings);
        assert_eq!(rec.path, "/nonexistent/map.npy");
        assert!(rec.error.unwrap().starts_with("cannot read the file"));
        assert!(rec.density.is_none());
    }
}
