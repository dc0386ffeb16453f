import Testing
import TernServer

@Suite struct JSONWriterTests {
    @Test func escapesQuotesBackslashesAndControlCharacters() {
        var w = JSONWriter()
        w.object { w in w.field("k\"", "a\\b\n\t\u{1}é") }
        #expect(w.string == #"{"k\"":"a\\b\n\t\u0001é"}"#)
    }

    @Test func keepsNullFieldsAndKeyOrder() {
        var w = JSONWriter()
        w.object { w in
            w.field("z", 1)
            w.field("finish_reason", nil as String?)
            w.field("a", [1, 2])
            w.key("o"); w.object { _ in }
        }
        #expect(w.string == #"{"z":1,"finish_reason":null,"a":[1,2],"o":{}}"#)
    }

    @Test func nonFiniteNumbersStayValidJSON() {
        var w = JSONWriter()
        w.array { w in w.value(-Double.infinity); w.value(Double.nan); w.value(0.25) }
        #expect(w.string == "[-9999.0,null,0.25]")
    }
}
