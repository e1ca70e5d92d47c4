using System.Globalization;
using ShopGpt.Eval;

// ./shopgpt eval conversations [FILE] starts a throw-away instance and runs
//   ShopGpt.Eval conversations BASE_URL FILE
// Prints every failed turn with what was shown, then the turn pass rate and product precision.
if (args is not ["conversations", var baseUrl, var file])
{
    Console.Error.WriteLine("usage: ShopGpt.Eval conversations BASE_URL FILE");
    return 2;
}
var conversations = ConversationFile.Parse(await File.ReadAllTextAsync(file));
using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(20));
await using var client = await ShopClient.ConnectAsync(new Uri(baseUrl), cts.Token);
var score = new Score();
var perfect = 0;
for (var ci = 0; ci < conversations.Count; ci++)
{
    var cid = await client.NewConversationAsync($"eval {ci + 1}", cts.Token);
    Answer? previous = null;
    var allPassed = true;
    for (var ti = 0; ti < conversations[ci].Turns.Count; ti++)
    {
        var spec = conversations[ci].Turns[ti];
        using var turnCts = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
        turnCts.CancelAfter(TimeSpan.FromSeconds(90));
        var answer = await client.AskAsync(cid, spec.Say, turnCts.Token);
        var verdict = TurnCheck.Check(spec, answer, previous);
        score.Add(verdict);
        if (!verdict.Passed)
        {
            allPassed = false;
            Console.WriteLine($"FAIL conversation {ci + 1} turn {ti + 1}: \"{spec.Say}\"");
            foreach (var f in verdict.Failures) Console.WriteLine($"     {f}");
            var firstLine = answer.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "";
            Console.WriteLine($"     answer: {(firstLine.Length > 140 ? firstLine[..140] + "…" : firstLine)}");
            for (var i = 0; i < verdict.Products.Count; i++)
            {
                var v = verdict.Products[i];
                var p = v.Product;
                Console.WriteLine($"     {(v.Passed ? "ok" : "xx")} {i + 1}. {p.Name} | {p.Brand ?? "-"} | {TurnCheck.Money(p.Price)} | {p.CategoryPath}");
            }
        }
        previous = answer;
    }
    if (allPassed) perfect++;
}
var inv = CultureInfo.InvariantCulture;
Console.WriteLine();
Console.WriteLine($"file: {Path.GetFileName(file)}; {conversations.Count} conversations, {score.Turns} turns");
Console.WriteLine($"turn pass rate {score.PassRate.ToString("0.000", inv)} ({score.PassedTurns}/{score.Turns}); " +
                  $"product precision {score.Precision.ToString("0.000", inv)} ({score.PassedShown}/{score.Shown} shown); " +
                  $"conversations fully passed {perfect}/{conversations.Count}");
return 0;
