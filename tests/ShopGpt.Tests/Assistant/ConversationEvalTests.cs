using ShopGpt.Eval;

namespace ShopGpt.Tests.Assistant;

/// <summary>The scoring rules of <c>./shopgpt eval conversations</c> (pure logic, no server).</summary>
public sealed class ConversationEvalTests
{
    private static readonly ShownProduct Phone = new("p1", "Moto G Play 16GB (Unlocked)", "Motorola", 149.99m, "Cell Phones > Unlocked Cell Phones");
    private static readonly ShownProduct Case = new("c1", "Clear Case for Moto G Play", "Incipio", 19.99m, "Cell Phones > Cell Phone Accessories > Cases");
    private static readonly ShownProduct Cheap = new("p2", "Alcatel Pixi 4G (Prepaid)", "Alcatel", 39.99m, "Cell Phones > Prepaid Phones");
    private static readonly ShownProduct NoPrice = new("p3", "Mystery Phone", null, null, "Cell Phones");

    private static List<ConversationSpec> File(string turns) =>
        ConversationFile.Parse($$"""{ "defs": { "HANDSET": "^Cell Phones( > (Unlocked Cell Phones|Prepaid Phones))?$" }, "conversations": [ { "turns": [ {{turns}} ] } ] }""");

    [Fact]
    public void ADefNameInsideAnAlternationStandsForItsRegex()
    {
        var spec = File("""{ "say": "x", "notCat": "Cases|HANDSET" }""")[0].Turns[0];
        Assert.Matches(spec.NotCat!, Phone.CategoryPath);
        Assert.Matches(spec.NotCat!, Case.CategoryPath);
        Assert.DoesNotMatch(spec.NotCat!, "Cell Phones > Cell Phone Accessories > Car Chargers");
    }

    [Fact]
    public void AnUnknownFieldIsRefusedInsteadOfIgnored()
    {
        Assert.Throws<FormatException>(() => File("""{ "say": "x", "maxPirce": 10 }"""));
    }

    [Fact]
    public void OnlyTheTopThreeDecideTheTurnButPrecisionCountsEveryShownProduct()
    {
        var spec = File("""{ "say": "x", "cat": "HANDSET" }""")[0].Turns[0];
        var passing = TurnCheck.Check(spec, new Answer("", [Phone, Cheap, NoPrice, Case]), null);
        Assert.True(passing.Passed);
        var failing = TurnCheck.Check(spec, new Answer("", [Phone, Case, Cheap]), null);
        Assert.False(failing.Passed);
        Assert.Contains(failing.Failures, f => f.StartsWith("#2 cat", StringComparison.Ordinal));

        var score = new Score();
        score.Add(passing);
        score.Add(failing);
        Assert.Equal(0.5, score.PassRate);
        Assert.Equal(5.0 / 7, score.Precision, 6);
    }

    [Fact]
    public void AConstrainedTurnThatShowsNothingFails()
    {
        var spec = File("""{ "say": "x", "maxPrice": 100 }""")[0].Turns[0];
        Assert.False(TurnCheck.Check(spec, new Answer("Here you go", []), null).Passed);
    }

    [Fact]
    public void MaxPriceNeedsAKnownPrice()
    {
        var spec = File("""{ "say": "x", "maxPrice": 150 }""")[0].Turns[0];
        Assert.True(TurnCheck.Check(spec, new Answer("", [Phone, Cheap]), null).Passed);
        Assert.False(TurnCheck.Check(spec, new Answer("", [NoPrice]), null).Passed);
    }

    [Fact]
    public void CheaperAndCheapestAreMeasuredAgainstThePreviousTurn()
    {
        var turns = File("""{ "say": "a" }, { "say": "b", "cheaperThanPrev": true }, { "say": "c", "cheapestOfPrev": true }""")[0].Turns;
        var prev = new Answer("", [Phone, Cheap]);
        Assert.True(TurnCheck.Check(turns[1], new Answer("", [Case, Cheap]), prev).Passed);
        Assert.False(TurnCheck.Check(turns[1], new Answer("", [new ShownProduct("x", "Pricey", null, 499m, "Cell Phones")]), prev).Passed);
        Assert.True(TurnCheck.Check(turns[2], new Answer("", [Case, Phone]), prev).Passed);
        Assert.True(TurnCheck.Check(turns[2], new Answer("", [Cheap]), prev).Passed);
        Assert.False(TurnCheck.Check(turns[2], new Answer("", [Phone, Cheap]), prev).Passed);
        Assert.False(TurnCheck.Check(turns[2], new Answer("", [Cheap]), new Answer("", [NoPrice])).Passed);
    }

    [Fact]
    public void CompareFirstWantsExactlyThoseProductsInOrder()
    {
        var spec = File("""{ "say": "x", "compareFirst": 2 }""")[0].Turns[0];
        var prev = new Answer("", [Phone, Cheap, Case]);
        Assert.True(TurnCheck.Check(spec, new Answer("| |", [Phone, Cheap]), prev).Passed);
        Assert.False(TurnCheck.Check(spec, new Answer("| |", [Cheap, Phone]), prev).Passed);
        Assert.False(TurnCheck.Check(spec, new Answer("| |", [Phone, Cheap, Case]), prev).Passed);
        Assert.False(TurnCheck.Check(spec, new Answer("| |", [Phone]), new Answer("", [Phone])).Passed);
    }

    [Fact]
    public void NoneWantsNoProductsAndAnAnswerThatSaysSo()
    {
        var spec = File("""{ "say": "x", "none": true }""")[0].Turns[0];
        Assert.True(TurnCheck.Check(spec, new Answer("Sorry, we don't carry that.", []), null).Passed);
        Assert.False(TurnCheck.Check(spec, new Answer("Sorry, we don't carry that.", [Case]), null).Passed);
        Assert.False(TurnCheck.Check(spec, new Answer("Here are some picks:", []), null).Passed);
    }

    [Fact]
    public void BrandOrNameReadsBrandAndNameTogetherAndNotBrandReadsTheBrandAlone()
    {
        var turns = File("""{ "say": "a", "brandOrName": "motorola" }, { "say": "b", "notBrand": "incipio" }""")[0].Turns;
        Assert.True(TurnCheck.Check(turns[0], new Answer("", [Phone]), null).Passed);
        Assert.False(TurnCheck.Check(turns[0], new Answer("", [Case]), null).Passed);
        Assert.False(TurnCheck.Check(turns[1], new Answer("", [Case]), null).Passed);
        Assert.True(TurnCheck.Check(turns[1], new Answer("", [NoPrice]), null).Passed);
    }
}
