//! Where a bot's orders go: one [`binance::Client`] per [`Mode`] this process trades in
//! (paper on the simulator, Binance's spot testnet, live Binance). A bot whose mode has no client
//! here fails its cycle with a message that says what to configure.

use binance::Client;
use store::Mode;

/// The exchange clients of this process, by mode.
#[derive(Debug, Clone, Default)]
pub struct Venues {
    paper: Option<Client>,
    testnet: Option<Client>,
    live: Option<Client>,
}

impl Venues {
    /// No venue at all.
    pub fn new() -> Venues {
        Venues::default()
    }

    /// The same venues with `client` serving bots of `mode`.
    pub fn with(mut self, mode: Mode, client: Client) -> Venues {
        *self.slot(mode) = Some(client);
        self
    }

    /// The client for bots of `mode`.
    pub fn client(&self, mode: Mode) -> Result<&Client, String> {
        let client = match mode {
            Mode::Paper => &self.paper,
            Mode::Testnet => &self.testnet,
            Mode::Live => &self.live,
        };
        client.as_ref().ok_or_else(|| match mode {
            Mode::Paper => "this process runs no paper exchange: start `spotbot run --exchange sim` for paper bots".to_owned(),
            Mode::Testnet => "this process does not trade on the testnet: start `spotbot run --exchange testnet` with BINANCE_API_KEY and BINANCE_API_SECRET set".to_owned(),
            Mode::Live => "this process does not trade live: start `spotbot run --exchange live` with live trading confirmed in the config".to_owned(),
        })
    }

    /// Whether bots of `mode` can run here.
    pub fn serves(&self, mode: Mode) -> bool {
        self.client(mode).is_ok()
    }

    fn slot(&mut self, mode: Mode) -> &mut Option<Client> {
        match mode {
            Mode::Paper => &mut self.paper,
            Mode::Testnet => &mut self.testnet,
            Mode::Live => &mut self.live,
        }
    }
}
