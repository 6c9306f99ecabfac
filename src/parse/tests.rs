use super::*;

#[test]
fn survey() {
    let root = std::path::Path::new("/work/shared/corpus");
    let mut stack = vec![root.to_path_buf()];
    let base = Url::parse("https://corpus.example/").unwrap();
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
            continue;
        }
        let s = p.to_string_lossy();
        if s.ends_with(".serde.json")
            || s.contains("test/output")
            || s.ends_with(".md")
            || s.ends_with(".txt")
            || s.contains("LICENSE")
            || s.ends_with("INDEX.json")
        {
            continue;
        }
        let body = std::fs::read(&p).unwrap();
        let t = std::time::Instant::now();
        match parse(&body, &base) {
            Ok(f) => println!("OK {} {} {:?}", f.entries.len(), s, t.elapsed()),
            Err(e) => println!("ERR {} :: {}", s, e),
        }
    }
}
