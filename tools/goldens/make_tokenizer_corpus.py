#!/usr/bin/env python3
"""Writes tests/data/tokenizer_corpus.jsonl: the test strings encore's tokenizer is checked on.

Plain Python 3, no third-party packages. Run from the repository root (no arguments):
    python3 tools/goldens/make_tokenizer_corpus.py
One JSON object {"text": "..."} per line. The expected token ids are NOT made here: they come from
the Hugging Face `tokenizers` library via tools/goldens/tokenizer_goldens.py (run on the GPU
machine). The output is deterministic (fixed seed), so re-running it gives the same file.

The strings cover: English prose, many scripts, combining marks and decomposed vs precomposed
forms (NFC), emoji sequences, whitespace runs, digit runs, code, URLs, contractions, punctuation,
special-token look-alikes, metaspace and byte-fallback look-alikes, empty and very long strings.
"""
import json
import os
import random
import unicodedata

OUT = os.path.join("tests", "data", "tokenizer_corpus.jsonl")
HELDOUT = os.path.join("assets", "brown-llama-12l", "heldout.txt")

HAND_WRITTEN = [
    # --- trivial ---
    "",
    " ",
    "  ",
    "a",
    "A",
    "Hello",
    " Hello",
    "Hello world",
    "Hello, world!",
    "hello world\n",
    "The quick brown fox jumps over the lazy dog.",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
    # --- English prose ---
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the "
    "age of foolishness, it was the epoch of belief, it was the epoch of incredulity.",
    "Call me Ishmael. Some years ago—never mind how long precisely—having little or no money in "
    "my purse, and nothing particular to interest me on shore, I thought I would sail about a "
    "little and see the watery part of the world.",
    "In 1961, the committee said: \"We'll review the $4,500.75 budget on Tuesday (or Wednesday).\"",
    "She said, 'Don't go!' and he replied, \"I won't.\"",
    "Mr. and Mrs. Dursley, of number four, Privet Drive, were proud to say that they were "
    "perfectly normal, thank you very much.",
    "Line one.\nLine two.\n\nParagraph two starts here.\n",
    "e.g. i.e. etc. vs. Dr. St. a.m. p.m. U.S.A.",
    "Well... I guess?! Maybe!!! No??? Yes;;; ok:::",
    # --- contractions ---
    "I'm you're he's she'll we've they'd it's can't won't shouldn't",
    "I'M YOU'RE HE'S SHE'LL WE'VE THEY'D IT'S CAN'T WON'T",
    "It'S ThEy'Re We'Ve I'M You'Ll He'D",
    "'s 't 're 've 'm 'll 'd",
    "'S 'T 'RE 'VE 'M 'LL 'D",
    "John's book's cover's color",
    "rock'n'roll o'clock ma'am y'all",
    "the '90s and '80s",
    "don\u2019t it\u2019s (curly apostrophes)",
    "'sometimes 'quoted' words'",
    "'ſ 'K long s and kelvin after apostrophe",
    "x'S x's x'ss x'LL x'lL",
    "''s '''t",
    # --- whitespace ---
    "   leading spaces",
    "trailing spaces   ",
    "multiple   spaces   between   words",
    "\ttab\tseparated\tvalues\t",
    "\t\t\tdeep tabs",
    "line\nfeed",
    "carriage\rreturn",
    "windows\r\nline\r\nendings\r\n",
    "\n\n\nthree newlines first",
    "last newlines\n\n\n",
    " \n \n \n",
    "\n",
    "\r\n",
    "\t",
    "\u00a0",
    "non\u00a0breaking\u00a0space",
    "ideographic\u3000space\u3000here",
    "thin\u2009space en\u2002space em\u2003space",
    "zero\u200bwidth\u200bspace",
    "line\u2028separator\u2029paragraph",
    "next\u0085line",
    "mongolian\u180evowel separator",
    "vertical\x0btab and form\x0cfeed",
    "mixed \t \n \r\n   \u00a0 \u3000 end",
    "word  \n  word",
    "   ",
    "          ten spaces before",
    "a                                                                b",
    # --- digits ---
    "0",
    "7",
    "42",
    "123",
    "1234",
    "12345",
    "123456789",
    "1234567890123456789012345678901234567890",
    "3.14159265358979",
    "-273.15",
    "1,000,000",
    "1 000 000",
    "2024-01-15T13:45:30Z",
    "+1 (555) 123-4567",
    "v1.2.3-rc.4",
    "abc123def456",
    "x1y22z333w4444",
    "0x1F 0b1011 0o777 1e-9 6.02e23",
    "Room 101, Floor 3A, Unit 12B",
    "\u0661\u0662\u0663 \u0967\u0968\u0969 \uff11\uff12\uff13 \u2460\u2461 \u00bd \u2153",
    "\U0001d7ce\U0001d7cf\U0001d7d0 mathematical digits",
    # --- code ---
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "import numpy as np\nx = np.zeros((3, 4), dtype=np.float32)\nprint(x.shape)",
    "class Foo(Bar):\n\tdef __init__(self, *args, **kwargs):\n\t\tsuper().__init__(*args, **kwargs)",
    "#include <iostream>\nint main() {\n    std::cout << \"hi\" << std::endl;\n    return 0;\n}\n",
    "template <typename T> constexpr T max(T a, T b) { return a > b ? a : b; }",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
    "{\"name\": \"encore\", \"version\": 1, \"tags\": [\"a\", \"b\"], \"ok\": true, \"x\": null}",
    "[{\"id\":1},{\"id\":2}]",
    "#!/bin/bash\nset -euo pipefail\nfor f in *.txt; do echo \"$f\" | wc -c; done 2>&1 | sort -n",
    "ls -la /usr/local/bin && cd ~/src && git log --oneline -n 5",
    "^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+)@(?:[a-z0-9-]+\\.)+[a-z]{2,}$",
    "\\p{L}+|\\p{N}{1,3}|\\s+(?!\\S)",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC LIMIT 10;",
    "<html><body><div class=\"x\">Hi &amp; bye</div></body></html>",
    "fn main() -> Result<(), Box<dyn Error>> { let v: Vec<u8> = vec![1, 2, 3]; Ok(()) }",
    "    indented with four spaces\n        and eight\n",
    "x+=1;y-=2;z*=3;w/=4;a%=5;b<<=6;c>>=7;d&&=e||f",
    "a->b::c.d[e](f)<g>{h}",
    "/* comment */ // another\n# python comment\n-- sql comment",
    "$HOME ${PATH} $((1+2)) `date` @decorator %macro &ref",
    # --- URLs, emails ---
    "https://www.example.com/path/to/page?query=1&other=two#fragment",
    "http://localhost:8080/api/v1/items/42",
    "ftp://files.example.org/pub/file-1.2.3.tar.gz",
    "Email me at first.last+tag@example.co.uk or admin@sub.domain.org.",
    "www.github.com/huggingface/tokenizers",
    "C:\\Users\\name\\Documents\\file.txt",
    "/usr/share/dict/words",
    # --- punctuation ---
    "!!!???...,,,;;;:::",
    "---===+++***///\\\\\\",
    "(((nested))) [[[brackets]]] {{{braces}}} <<<angles>>>",
    "\"quoted\" 'single' `back` \u201cdouble curly\u201d \u2018single curly\u2019 \u00abguillemets\u00bb",
    "\u2014em dash\u2014 \u2013en dash\u2013 \u2026ellipsis\u2026 \u2022bullet",
    "\u00a9 \u00ae \u2122 \u00a7 \u00b6 \u2020 \u2021 \u00b0 \u00b1 \u00d7 \u00f7",
    "$100 \u20ac200 \u00a3300 \u00a5400 \u20b9500 \u20bf0.01",
    "@#$%^&*()_+-=[]{}|;':\",./<>?",
    "~`!",
    ".",
    "?!",
    " .",
    "a.b,c;d:e!f?g",
    # --- Latin with diacritics ---
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 fa\u00e7ade co\u00f6perate",
    "\u00c0 \u00e0 \u00c9 \u00e9 \u00d1 \u00f1 \u00dc \u00fc \u00df \u1e9e \u00c5 \u00e5 \u00d8 \u00f8 \u00c6 \u00e6",
    "Zw\u00f6lf Boxk\u00e4mpfer jagen Viktor quer \u00fcber den gro\u00dfen Sylter Deich.",
    "Voix ambigu\u00eb d'un c\u0153ur qui au z\u00e9phyr pr\u00e9f\u00e8re les jattes de kiwis.",
    "El ping\u00fcino Wenceslao hizo kil\u00f3metros bajo exhaustiva lluvia y fr\u00edo, a\u00f1oraba.",
    "Pchn\u0105\u0107 w t\u0119 \u0142\u00f3d\u017a je\u017ca lub o\u015bm skrzy\u0144 fig.",
    "P\u0159\u00edli\u0161 \u017elu\u0165ou\u010dk\u00fd k\u016f\u0148 \u00fap\u011bl \u010f\u00e1belsk\u00e9 \u00f3dy.",
    "\u00c1rv\u00edzt\u0171r\u0151 t\u00fck\u00f6rf\u00far\u00f3g\u00e9p",
    "Ti\u1ebfng Vi\u1ec7t c\u00f3 nhi\u1ec1u d\u1ea5u: \u0103 \u00e2 \u0111 \u00ea \u00f4 \u01a1 \u01b0 \u1ea1 \u1ea3 \u1ea5",
    "\u00deetta er \u00edslenska: \u00fe\u00f0\u00e6\u00f6",
    "T\u00fcrk\u00e7e: \u0131\u0130\u015f\u015e\u011f\u011e\u00e7\u00c7",
    "Rom\u00e2n\u0103: \u0219\u021b\u0218\u021a \u015f\u0163",
    "\u0141\u00f3d\u017a \u017b\u00f3\u0142\u0107 \u0118\u0104",
    "Esperanto: \u0109\u011d\u0125\u0135\u015d\u016d",
    # --- Greek, Cyrillic, Armenian, Georgian ---
    "\u039e\u03b5\u03c3\u03ba\u03b5\u03c0\u03ac\u03b6\u03c9 \u03c4\u03b7\u03bd \u03c8\u03c5\u03c7\u03bf\u03c6\u03b8\u03cc\u03c1\u03b1 \u03b2\u03b4\u03b5\u03bb\u03c5\u03b3\u03bc\u03af\u03b1.",
    "\u0386\u03bb\u03c6\u03b1 \u0392\u03ae\u03c4\u03b1 \u0393\u03ac\u03bc\u03bc\u03b1 \u2014 \u03c3\u03bf\u03c6\u03af\u03b1\u03c2 \u03c2",
    "\u0421\u044a\u0435\u0448\u044c \u0436\u0435 \u0435\u0449\u0451 \u044d\u0442\u0438\u0445 \u043c\u044f\u0433\u043a\u0438\u0445 \u0444\u0440\u0430\u043d\u0446\u0443\u0437\u0441\u043a\u0438\u0445 \u0431\u0443\u043b\u043e\u043a, \u0434\u0430 \u0432\u044b\u043f\u0435\u0439 \u0447\u0430\u044e.",
    "\u041f\u0420\u0418\u0412\u0415\u0422, \u041c\u0418\u0420! \u0401\u0436\u0438\u043a \u0419\u043e\u0433\u0443\u0440\u0442",
    "\u0423\u043a\u0440\u0430\u0457\u043d\u0441\u044c\u043a\u0430: \u0491\u0454\u0456\u0457 \u0421\u0440\u043f\u0441\u043a\u0438: \u0452\u0458\u0459\u045a\u045b\u045f",
    "\u0540\u0561\u0575\u0565\u0580\u0565\u0576 \u056c\u0565\u0566\u0578\u0582 \u0587 \u0531\u0532\u0533",
    "\u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8 \u10d4\u10dc\u10d0 \u10e1\u10d0\u10e5\u10d0\u10e0\u10d7\u10d5\u10d4\u10da\u10dd",
    # --- RTL ---
    "\u05e2\u05d1\u05e8\u05d9\u05ea: \u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "\u05d1\u05b0\u05bc\u05e8\u05b5\u05d0\u05e9\u05b4\u05c1\u05d9\u05ea \u05d1\u05b8\u05bc\u05e8\u05b8\u05d0",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629: \u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u0628\u0650\u0633\u0652\u0645\u0650 \u0627\u0644\u0644\u0651\u064e\u0647\u0650 \u0627\u0644\u0631\u0651\u064e\u062d\u0652\u0645\u064e\u0646\u0650 \u0627\u0644\u0631\u0651\u064e\u062d\u0650\u064a\u0645\u0650",
    "\u0641\u0627\u0631\u0633\u06cc: \u0633\u0644\u0627\u0645 \u062f\u0646\u06cc\u0627 \u06f1\u06f2\u06f3",
    "\u0627\u0631\u062f\u0648: \u06c1\u06d2 \u06ba \u0679 \u0688",
    "mixed English \u05e2\u05d1\u05e8\u05d9\u05ea and \u0639\u0631\u0628\u064a in one line",
    "\u200f\u200e\u202a\u202b\u202c direction marks",
    # --- Indic ---
    "\u0939\u093f\u0928\u094d\u0926\u0940: \u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u0915\u094d\u0937 \u0924\u094d\u0930 \u091c\u094d\u091e \u0936\u094d\u0930 \u0915\u093c \u0916\u093c",
    "\u09ac\u09be\u0982\u09b2\u09be: \u0986\u09ae\u09bf \u09ad\u09be\u09b2\u09cb \u0986\u099b\u09bf",
    "\u0ba4\u0bae\u0bbf\u0bb4\u0bcd: \u0bb5\u0ba3\u0b95\u0bcd\u0b95\u0bae\u0bcd \u0b89\u0bb2\u0b95\u0bae\u0bcd",
    "\u0c24\u0c46\u0c32\u0c41\u0c17\u0c41 \u0c95\u0ca8\u0ccd\u0ca8\u0ca1 \u0d2e\u0d32\u0d2f\u0d3e\u0d33\u0d02",
    "\u0a2a\u0a70\u0a1c\u0a3e\u0a2c\u0a40 \u0a97\u0ac1\u0a9c\u0ab0\u0abe\u0aa4\u0ac0 \u0b13\u0b21\u0b3c\u0b3f\u0b06",
    "\u0dc3\u0dd2\u0d82\u0dc4\u0dbd",
    # --- Southeast Asian ---
    "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22\u0e44\u0e21\u0e48\u0e21\u0e35\u0e0a\u0e48\u0e2d\u0e07\u0e27\u0e48\u0e32\u0e07\u0e23\u0e30\u0e2b\u0e27\u0e48\u0e32\u0e07\u0e04\u0e33",
    "\u0e9e\u0eb2\u0eaa\u0eb2\u0ea5\u0eb2\u0ea7",
    "\u1797\u17b6\u179f\u17b6\u1781\u17d2\u1798\u17c2\u179a",
    "\u1019\u103c\u1014\u103a\u1019\u102c\u1005\u102c",
    "Ti\u1ebfng Vi\u1ec7t Nam",
    "\u0f56\u0f7c\u0f51\u0f0b\u0f61\u0f72\u0f42\u0f0b \u0f40\u0f0b\u0f41\u0f0b\u0f42\u0f0b",
    # --- East Asian ---
    "\u4eca\u5929\u5929\u6c14\u5f88\u597d\uff0c\u6211\u4eec\u53bb\u516c\u56ed\u5427\u3002",
    "\u6f22\u5b57\u3068\u3072\u3089\u304c\u306a\u3068\u30ab\u30bf\u30ab\u30ca\u3092\u6df7\u305c\u305f\u6587\u7ae0\u3067\u3059\u3002",
    "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c\u3002\u30b3\u30f3\u30d4\u30e5\u30fc\u30bf\u30fc\u3002\uff8a\uff9d\uff76\uff78\uff76\uff80\uff76\uff85",
    "\ud55c\uad6d\uc5b4: \uc548\ub155\ud558\uc138\uc694, \uc138\uacc4!",
    "\u1100\u1161\u11a8 \u1112\u1161\u11ab\u1100\u1173\u11af (conjoining jamo)",
    "\u7e41\u9ad4\u4e2d\u6587\u8207\u7b80\u4f53\u4e2d\u6587",
    "\U00020000\U0002a6d6\U0002b734 CJK extension B+",
    "\u3042\u3044\u3046\u3048\u304a \u30a2\u30a4\u30a6\u30a8\u30aa \u30f4\u309b\u309c",
    "\uff21\uff22\uff23 \uff41\uff42\uff43 fullwidth latin \uff01\uff1f",
    "\u3231\u3232 \u32a4 \u3300 \u33a1 CJK compat",
    # --- other scripts ---
    "\u12a0\u121b\u122d\u129b: \u1230\u120b\u121d \u12d3\u1208\u121d",
    "\u13e3\u13b3\u13a9 \u13a6\u13ec\u13c2\u13af\u13cd\u13d7",
    "\u182e\u1823\u1829\u182d\u1823\u182f \u182a\u1822\u1834\u1822\u182d\u180c",
    "\u1401\u1403\u1405 \u140a\u140b canadian syllabics",
    "\u16a0\u16a2\u16a6\u16a8\u16b1\u16b2 runes",
    "\U00010330\U00010331\U00010332 gothic",
    "\u2d30\u2d4f\u2d30\u2d63\u2d49\u2d56 tifinagh",
    "\u07ca\u07cb\u07cc nko \u0710\u0712\u0713 syriac \u0780\u0781 thaana",
    # --- math and symbols ---
    "\U0001d400\U0001d401\U0001d402 \U0001d44e\U0001d44f\U0001d450 \U0001d538\U0001d539 \U0001d4d0",
    "\u2200x\u2208\u211d: x\u00b2 \u2265 0 \u2227 \u2203y (y\u00b3 = x) \u21d2 \u222b\u2080\u00b9 f(x)dx \u2248 \u2211\u1d62 a\u1d62",
    "E = mc\u00b2, \u03c0r\u00b2, \u221a2, \u221e, \u2260, \u2264, \u2202f/\u2202x",
    "\u2190\u2191\u2192\u2193\u2194 \u2500\u2502\u250c\u2510 \u2588\u2591\u2592\u2593 \u25a0\u25a1\u25b2\u25b3",
    "\u2654\u2655\u2656 \u2660\u2663\u2665\u2666 \u266a\u266b",
    "\ufb01\ufb02 ligatures \u2160\u2161\u2162 roman \u2474 \u24b6",
    # --- combining marks, NFC vs NFD ---
    "e\u0301 vs \u00e9",
    "Cafe\u0301 and Caf\u00e9",
    "A\u030a vs \u00c5 vs \u212b (angstrom sign)",
    "n\u0303 o\u0308 u\u0308 a\u0300 c\u0327",
    "\u1e9b\u0323 \u1e69 s\u0323\u0307 s\u0307\u0323",
    "q\u0307\u0323 (reordering of combining marks)",
    "\u1100\u1161 \uac00 decomposed and composed hangul",
    "\u0915\u093c vs \u0958 (nukta composition exclusion)",
    "Z\u0335\u0321\u0322a\u0334\u0327l\u0336g\u0338o\u0337 text",
    "\u0301\u0302\u0303 leading combining marks",
    "\u03a9 vs \u2126 (ohm sign) \u212a vs K (kelvin)",
    "\u00c5ngstr\u00f6m A\u030angstro\u0308m",
    # --- emoji ---
    "\U0001f600\U0001f603\U0001f604\U0001f601",
    "I love \U0001f355 and \U0001f363!",
    "\U0001f44d\U0001f3fb\U0001f44d\U0001f3fc\U0001f44d\U0001f3fd\U0001f44d\U0001f3fe\U0001f44d\U0001f3ff",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family",
    "\U0001f469\U0001f3fd\u200d\U0001f4bb \U0001f3f3\ufe0f\u200d\U0001f308 \U0001f3f4\u200d\u2620\ufe0f",
    "\U0001f1fa\U0001f1f8 \U0001f1ef\U0001f1f5 \U0001f1e9\U0001f1ea \U0001f1fa\U0001f1e6 flags",
    "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f england",
    "1\ufe0f\u20e3 2\ufe0f\u20e3 #\ufe0f\u20e3 *\ufe0f\u20e3 keycaps",
    "\u2764\ufe0f \u2764 \u263a\ufe0f \u2600\ufe0e text vs emoji presentation",
    "\U0001f9d1\u200d\U0001f91d\u200d\U0001f9d1\U0001f3ff",
    "emoji\U0001f600glued\U0001f600to\U0001f600words",
    "\U0001f4a9" * 10,
    # --- special-token look-alikes ---
    "<s>",
    "</s>",
    "<unk>",
    "<s>Hello</s>",
    "<s> Hello </s>",
    "Hello<s>world</s>again",
    "< s>",
    "<s >",
    "<S>",
    "<<s>>",
    "<s><s><s>",
    "</s></s>",
    "text</s>",
    "<|begin_of_text|>",
    "<|begin_of_text|>Hello",
    "<|begin_of_text|> Hello<|end_of_text|>",
    "<|end_of_text|><|begin_of_text|>",
    "<|begin_of_text |>",
    "<| begin_of_text|>",
    "<|BEGIN_OF_TEXT|>",
    "<|begin_of_text|",
    "|begin_of_text|>",
    "prefix<|begin_of_text|>suffix",
    "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>",
    "<|reserved_special_token_0|><|reserved_special_token_250|><|reserved_special_token_251|>",
    "<|im_start|>",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start |>",
    "<|im_start|",
    "<|im_end|><|im_end|>",
    "<|endoftext|>",
    "text<|endoftext|>more text",
    "<|endoftext |>",
    "<|endoftext|><|endoftext|><|endoftext|>",
    "<think>\nreasoning here\n</think>\n\nanswer",
    "<think></think>",
    "<tool_call>{\"name\": \"f\"}</tool_call>",
    "<|fim_prefix|>def<|fim_suffix|>pass<|fim_middle|>",
    "<|vision_start|><|image_pad|><|vision_end|>",
    "word<|im_start|>word",
    " <|im_start|> ",
    "<|<|im_start|>|>",
    "<|im_start|><s></s><|begin_of_text|><|endoftext|>",
    # --- metaspace / byte-fallback look-alikes ---
    "\u2581",
    "\u2581Hello",
    "\u2581\u2581\u2581",
    "Hello\u2581world",
    "a \u2581 b",
    "<0x41>",
    "<0x0A><0xFF>",
    "<0x41>BC",
    "<0xGG> <0x4> <0x041>",
    "\u0120\u010a\u0121 (GPT-2 byte-level look-alikes)",
    "\u00c4\u0142 \u00e2\u0122\u013b",
    # --- control characters and oddities ---
    "\x00",
    "null\x00byte",
    "\x01\x02\x03\x1b[31mred\x1b[0m",
    "\x7f delete",
    "bell\x07",
    "\ufeffBOM at start",
    "soft\u00adhyphen",
    "\ufffd replacement char",
    "\uffff\ufffe noncharacters",
    "\U0010ffff last code point",
    "\U000f0000 private use plane 15",
    "\ue000\uf8ff private use",
    "\u200c\u200d zwnj zwj",
    "\u2060word\u2060joiner",
    "\u034f combining grapheme joiner",
]


def systematic(rng):
    out = []
    # Digit runs of every length 1..16, alone, after a space, glued to letters.
    for n in range(1, 17):
        digits = "".join(str((i * 7 + n) % 10) for i in range(n))
        out.append(digits)
        out.append(" " + digits)
        out.append("abc" + digits + "xyz")
    # Numbers with separators.
    for v in [7, 42, 999, 1000, 12345, 1234567, 31415926535]:
        out.append(f"{v:,}")
        out.append(f"{v / 7:.4f}")
    # Whitespace runs of each kind and length before and after a word.
    for ws in [" ", "\t", "\n", "\r\n", "\u00a0", "\u3000"]:
        for n in [1, 2, 3, 5, 8]:
            out.append(ws * n + "word" + ws * n)
            out.append("a" + ws * n + "b")
    # Every contraction suffix in different case patterns and positions.
    for suf in ["s", "t", "re", "ve", "m", "ll", "d"]:
        for w in [suf, suf.upper(), suf.capitalize()]:
            out.append(f"it'{w}")
            out.append(f" '{w} x'{w}y")
    # Each ASCII printable character with its neighbours.
    printable = "".join(chr(c) for c in range(32, 127))
    for i in range(0, len(printable), 8):
        chunk = printable[i:i + 8]
        out.append(chunk)
        out.append(" ".join(chunk))
    # All control characters (except the ones JSON would make odd: they are escaped anyway).
    out.append("".join(chr(c) for c in range(0, 32)))
    out.append(" ".join(chr(c) for c in range(0, 32)))
    out.append("".join(chr(c) for c in range(0x80, 0xa0)))
    # Latin-1 supplement and Latin Extended-A.
    out.append("".join(chr(c) for c in range(0xa0, 0x100)))
    out.append("".join(chr(c) for c in range(0x100, 0x180)))
    # NFD forms of words with diacritics (qwen3 normalizes to NFC; others do not).
    for word in ["r\u00e9sum\u00e9", "na\u00efve", "\u00c5ngstr\u00f6m", "Cura\u00e7ao", "\u1e9e\u00fc\u00dfe",
                 "Vi\u1ec7t Nam", "\ud55c\uad6d\uc5b4", "\u30ac\u30ae\u30b0", "\u0390\u03b0"]:
        out.append(unicodedata.normalize("NFD", word))
        out.append(unicodedata.normalize("NFKD", word) + " / " + word)
    # Random mixes of letters, digits, spaces and punctuation from many scripts.
    alphabet = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                "     \n\t.,;:!?'\"()-_/\\@#$%&*+=<>[]{}|~^`"
                "\u00e9\u00e8\u00fc\u00f1\u00e7\u00df\u03b1\u03b2\u03b3\u0434\u0436\u044f"
                "\u05d0\u05d1\u0627\u0644\u0915\u093e\u0e01\u0e32\u4e00\u4e8c\u3042\u30a2\ud55c"
                "\u2581\u0120\u00a0\u3000\u0301\u200d\U0001f600\U0001f44d\U0001f3fd")
    for _ in range(40):
        n = rng.randint(1, 60)
        out.append("".join(rng.choice(alphabet) for _ in range(n)))
    # Random strings of arbitrary code points (excluding surrogates).
    for _ in range(12):
        n = rng.randint(1, 20)
        chars = []
        while len(chars) < n:
            c = rng.choice([rng.randint(0x20, 0x7f), rng.randint(0x80, 0x7ff),
                            rng.randint(0x800, 0xffff), rng.randint(0x10000, 0x10ffff)])
            if 0xd800 <= c <= 0xdfff:
                continue
            chars.append(chr(c))
        out.append("".join(chars))
    # Very long words.
    out.append("a" * 300)
    out.append("ab" * 200)
    out.append("Supercalifragilisticexpialidocious" * 5)
    out.append("pneumonoultramicroscopicsilicovolcanoconiosis")
    out.append("x" * 1000 + " y")
    out.append("\u00e9" * 200)
    out.append("\u4e2d" * 150)
    out.append("\U0001f600" * 80)
    out.append("1" * 500)
    out.append(" " * 200 + "end")
    out.append("\n" * 100)
    out.append("-" * 120 + "\n" + "=" * 120)
    out.append("".join(chr(0x61 + (i * 7) % 26) for i in range(2000)))
    # Special tokens repeated and glued.
    for tok in ["<s>", "</s>", "<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>",
                "<|endoftext|>"]:
        out.append(tok + tok)
        out.append("a" + tok + "b")
        out.append(" " + tok + " ")
        out.append(tok[:-1])
        out.append(tok[1:])
    return out


def english_slices(rng):
    """Slices of the held-out Brown text: realistic prose for the bundled model's tokenizer."""
    try:
        with open(HELDOUT, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return []
    out = []
    for _ in range(30):
        n = rng.choice([40, 120, 400, 1200])
        start = rng.randint(0, len(text) - n)
        out.append(text[start:start + n])
    return out


def main():
    rng = random.Random(20241128)
    texts = list(HAND_WRITTEN) + systematic(rng) + english_slices(rng)
    seen = set()
    unique = []
    for t in texts:
        if t not in seen:
            seen.add(t)
            unique.append(t)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8", newline="\n") as f:
        for t in unique:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    print(f"wrote {len(unique)} strings, {sum(len(t.encode()) for t in unique)} bytes, to {OUT}")


if __name__ == "__main__":
    main()
