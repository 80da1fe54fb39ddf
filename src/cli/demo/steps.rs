//! The demo's printed walk-through: where everything listens and the shell commands to
//! place, watch, follow, answer and cancel a call.

use std::net::SocketAddr;
use std::path::Path;

/// What the steps point at.
pub struct Addresses<'a> {
    pub gateway: SocketAddr,
    pub apns: SocketAddr,
    pub apns_control: SocketAddr,
    pub fcm: SocketAddr,
    pub fcm_control: SocketAddr,
    /// The demo's API key as `SK…:secret`.
    pub auth: &'a str,
    pub data_dir: &'a Path,
}

/// `bridge N`: the bridge token in phone N's latest push, from whichever simulator's log
/// has it (every demo token starts with `d<N>`).
const BRIDGE: &str = r#"bridge() { python3 -c "import json,sys,urllib.request as u; n='d'+sys.argv[1]; log=lambda url: json.load(u.urlopen(url+'/pushes?since=0'))['pushes']; got=[p['payload'] for p in log(sys.argv[2]) if p['device_token'].startswith(n)]+[p['data'] for p in log(sys.argv[3]) if p['token'].startswith(n)]; print(got[-1]['twi_bridge_token'])" "$1" "$APNS" "$FCM"; }"#;

/// Prints the walk-through to stdout.
pub fn print(a: &Addresses<'_>) {
    let Addresses {
        gateway,
        apns,
        apns_control,
        fcm,
        fcm_control,
        auth,
        data_dir,
    } = a;
    println!(
        r#"
pushgate demo is running: gateway http://{gateway},
  APNs simulator https://{apns} (control http://{apns_control}),
  FCM simulator https://{fcm} (control http://{fcm_control}).
An account, an API key ({env}) and alice's phones are ready:
iPhones 1 and 2 (APNs, VoIP pushes) and Android phone 3 (FCM, high-priority data messages).

0. In another terminal, set up (bridge N prints the bridge token that phone N got in its push):
     G=http://{gateway}; AUTH="{auth}"
     APNS=http://{apns_control}; FCM=http://{fcm_control}
     {BRIDGE}
1. Place a call to alice, as the quickstart server's /placeCall does (it prints the call SID):
     CALL=$(curl -s -X POST "$G/placeCall?to=alice"); echo $CALL
2. See the pushes that reached alice's three phones: the iPhones' at the APNs simulator,
   the Android phone's at the FCM simulator:
     curl -s "$APNS/pushes?since=0" | python3 -m json.tool | grep -E '"(device_token|twi_call_sid|twi_message_type)"'
     curl -s "$FCM/pushes?since=0" | python3 -m json.tool | grep -E '"(token|twi_call_sid|twi_message_type)"'
3. Follow the call on phone 2 (iPhone) and phone 3 (Android), one terminal each, after step 0
   there too, with the same CALL:
     curl -N "$G/v1/invites/$CALL/events" -H "Authorization: Bearer $(bridge 2)"
     curl -N "$G/v1/invites/$CALL/events" -H "Authorization: Bearer $(bridge 3)"
4. Answer on phone 1: the other phones' streams end with "answered" and "this_device":false.
     curl -s -X POST "$G/v1/invites/$CALL/accept" -H "Authorization: Bearer $(bridge 1)"
   Phone 2 answering too gets 409, code 21310 (answered on another device):
     curl -s -X POST "$G/v1/invites/$CALL/accept" -H "Authorization: Bearer $(bridge 2)"
5. Place another call and hang up from the backend before anyone answers: the streams end with "canceled".
     CALL=$(curl -s -X POST "$G/placeCall?to=alice")
     curl -s -u "$AUTH" -X POST "$G/v1/invites/$CALL/cancel"
6. What happened to each push (each delivery's platform and its provider's answer):
     curl -s -u "$AUTH" "$G/v1/invites/$CALL"
7. Ring alice as Twilio's Call Notification webhook does (Twilio account {twilio} is linked;
   the phones get this body unchanged, Twilio's bridge token and all):
     TW=$(python3 -c 'import uuid; print("CA" + uuid.uuid4().hex)')
     curl -s -u "$AUTH" "$G/v1/twilio/call-notifications" -H 'Content-Type: application/json' -d '{{"twi_account_sid":"{twilio}","twi_call_sid":"'$TW'","twi_bridge_token":"eyJ.twilio.token","twi_from":"client:quick_start","twi_to":"client:alice","twi_message_id":"WB1","twi_message_type":"twilio.voice.call"}}'
8. Or do all of this in the operator console, http://{gateway}/console: sign in with
     API key SID {key}
     secret      {secret}
   (keys, push credentials, alice's registrations, calls updating live, "Ring a test call").

Ctrl-C stops the demo; running it again reuses everything in {data}.
"#,
        env = data_dir.join("demo.env").display(),
        twilio = super::seed::TWILIO_ACCOUNT,
        key = auth.split_once(':').map_or("", |(k, _)| k),
        secret = auth.split_once(':').map_or("", |(_, s)| s),
        data = data_dir.display(),
    );
}
